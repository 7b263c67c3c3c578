//go:build !unix

package coordinator

import "math"

// cpuSeconds is not measured here: NaN.
func cpuSeconds() float64 { return math.NaN() }
