package telemetry

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// runtimeFamilies returns the Go runtime and process metrics under the names and
// help texts of the Prometheus client library's default Go and process collectors
// (go_*, process_*), so dashboards built on them keep working.
func runtimeFamilies() []*family {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g := func(name, help string, v float64) *family {
		return &family{name: name, help: help, typ: "gauge", series: []series{{samples: []sample{{value: v}}}}}
	}
	c := func(name, help string, v float64) *family {
		f := g(name, help, v)
		f.typ = "counter"
		return f
	}
	threads, _ := runtime.ThreadCreateProfile(nil)
	rm := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}, {Name: "/sched/gomaxprocs:threads"}}
	metrics.Read(rm)
	rv := func(i int) float64 {
		if rm[i].Value.Kind() == metrics.KindUint64 {
			return float64(rm[i].Value.Uint64())
		}
		return 0
	}
	fams := []*family{
		g("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.", rv(0)),
		g("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.", rv(1)),
		g("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", rv(2)),
		g("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		g("go_threads", "Number of OS threads created.", float64(threads)),
		{name: "go_info", help: "Information about the Go environment.", typ: "gauge",
			series: []series{{keys: []string{"version"}, vals: []string{runtime.Version()}, samples: []sample{{value: 1}}}}},
		g("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", float64(ms.Alloc)),
		c("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", float64(ms.TotalAlloc)),
		g("go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", float64(ms.BuckHashSys)),
		c("go_memstats_frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", float64(ms.Frees)),
		g("go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", float64(ms.GCSys)),
		g("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", float64(ms.HeapAlloc)),
		g("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", float64(ms.HeapIdle)),
		g("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", float64(ms.HeapInuse)),
		g("go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", float64(ms.HeapObjects)),
		g("go_memstats_heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", float64(ms.HeapReleased)),
		g("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", float64(ms.HeapSys)),
		g("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9),
		c("go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", float64(ms.Mallocs)),
		g("go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", float64(ms.MCacheInuse)),
		g("go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", float64(ms.MCacheSys)),
		g("go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", float64(ms.MSpanInuse)),
		g("go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", float64(ms.MSpanSys)),
		g("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", float64(ms.NextGC)),
		g("go_memstats_other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", float64(ms.OtherSys)),
		g("go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", float64(ms.StackInuse)),
		g("go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", float64(ms.StackSys)),
		g("go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", float64(ms.Sys)),
		gcDurationFamily(),
	}
	return append(fams, processFamilies(g, c)...)
}

// gcDurationFamily is the summary of stop-the-world GC pauses (min, quartiles, max).
func gcDurationFamily() *family {
	var st debug.GCStats
	st.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&st)
	s := series{}
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		s.samples = append(s.samples, sample{extraKey: "quantile", extraVal: q, value: st.PauseQuantiles[i].Seconds()})
	}
	s.samples = append(s.samples, sample{suffix: "_sum", value: st.PauseTotal.Seconds()}, sample{suffix: "_count", value: float64(st.NumGC)})
	return &family{name: "go_gc_duration_seconds", help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
		typ: "summary", series: []series{s}}
}

// userHZ is the kernel's USER_HZ, the unit of the times in /proc/<pid>/stat
// (100 on every Linux architecture Go supports; the client library assumes it too).
const userHZ = 100

// processFamilies reads /proc (Linux); elsewhere, or when /proc is unreadable, the
// series it cannot read are left out.
func processFamilies(g, c func(name, help string, v float64) *family) []*family {
	var out []*family
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the command name, which is in parentheses and may contain spaces.
		if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) {
			f := strings.Fields(string(b[i+2:]))
			num := func(n int) float64 { // n is the field number of proc(5), from 1
				if n-3 < len(f) {
					v, _ := strconv.ParseFloat(f[n-3], 64)
					return v
				}
				return 0
			}
			out = append(out,
				c("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (num(14)+num(15))/userHZ),
				g("process_virtual_memory_bytes", "Virtual memory size in bytes.", num(23)),
				g("process_resident_memory_bytes", "Resident memory size in bytes.", num(24)*float64(os.Getpagesize())))
			if bt := bootTime(); bt > 0 {
				out = append(out, g("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", bt+num(22)/userHZ))
			}
		}
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		out = append(out, g("process_open_fds", "Number of open file descriptors.", float64(len(ents))))
	}
	nofile, as, okNofile, okAS := rlimits()
	if okNofile {
		out = append(out, g("process_max_fds", "Maximum number of open file descriptors.", nofile))
	}
	if okAS {
		out = append(out, g("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", as))
	}
	if in, outb, ok := netOctets(); ok {
		out = append(out,
			c("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", in),
			c("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", outb))
	}
	return out
}

// bootTime is btime of /proc/stat, in seconds since the epoch.
func bootTime() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// netOctets reads InOctets and OutOctets of the IpExt lines of /proc/self/net/netstat.
func netOctets() (in, out float64, ok bool) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, false
	}
	var header []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "IpExt:") {
			continue
		}
		fields := strings.Fields(line)[1:]
		if header == nil {
			header = fields
			continue
		}
		for i, name := range header {
			if i >= len(fields) {
				break
			}
			v, _ := strconv.ParseFloat(fields[i], 64)
			switch name {
			case "InOctets":
				in, ok = v, true
			case "OutOctets":
				out = v
			}
		}
	}
	return in, out, ok
}
