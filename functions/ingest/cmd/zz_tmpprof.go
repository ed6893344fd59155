package main

// TEMPORARY profiling hook (not to be committed).

import (
	"os"
	"runtime/pprof"
	"time"
)

func init() {
	p := os.Getenv("TMP_INGEST_CPUPROFILE")
	if p == "" {
		return
	}
	f, err := os.Create(p)
	if err != nil {
		return
	}
	_ = pprof.StartCPUProfile(f)
	go func() {
		time.Sleep(40 * time.Second)
		pprof.StopCPUProfile()
		_ = f.Close()
	}()
}
