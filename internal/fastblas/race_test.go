//go:build race

package fastblas

// raceEnabled shrinks the randomized tests under the race detector, which
// slows the pure-Go parts (packing, reference BLAS) down by an order of
// magnitude.
const raceEnabled = true
