//go:build !race

package fastblas

// raceEnabled shrinks the randomized tests under the race detector.
const raceEnabled = false
