//go:build unix

package coordinator

import "syscall"

// cpuSeconds returns the user plus system CPU time of the process so far, all threads
// together: on a shared machine it is less disturbed by other processes than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
