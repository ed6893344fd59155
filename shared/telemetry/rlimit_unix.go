//go:build unix

package telemetry

import "syscall"

// rlimits returns the soft limits on open files and on the address space.
func rlimits() (nofile, as float64, okNofile, okAS bool) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		nofile, okNofile = float64(lim.Cur), true
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		as, okAS = float64(lim.Cur), true
	}
	return nofile, as, okNofile, okAS
}
