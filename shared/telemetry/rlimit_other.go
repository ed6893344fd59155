//go:build !unix

package telemetry

func rlimits() (nofile, as float64, okNofile, okAS bool) { return 0, 0, false, false }
