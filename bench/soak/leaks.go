// What the soak watches: the client process's goroutines, open files and
// live heap, before, during and after the load.

package main

import (
	"os"
	"runtime"
	"time"
)

type sample struct {
	goroutines int
	fds        int
	heap       uint64 // live heap after a GC, bytes
}

func measure() sample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return sample{goroutines: runtime.NumGoroutine(), fds: openFiles(), heap: ms.HeapAlloc}
}

// openFiles counts the process's open file descriptors (Linux; -1
// elsewhere, where the check is skipped).
func openFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// Slack allowed over the baseline once the session is closed: a goroutine
// or two of the runtime's own (a finalizer, a timer), and heap a soak of
// any length must not exceed.
const (
	slackGoroutines = 2
	slackFDs        = 2
	slackHeap       = 16 << 20
)

// settle waits up to 15 s for the process to come back to base, and
// returns the last sample and whether it did.
func settle(base sample) (sample, bool) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := measure()
		ok := s.goroutines <= base.goroutines+slackGoroutines &&
			(base.fds < 0 || s.fds <= base.fds+slackFDs) &&
			s.heap <= base.heap+slackHeap
		if ok || time.Now().After(deadline) {
			return s, ok
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
