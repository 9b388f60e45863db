package sandbox

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// memoryPoll is how often the fallback samples the process group's memory.
const memoryPoll = 10 * time.Millisecond

// pollMemory is the fallback where no memory cgroup exists: it tracks the group's peak and,
// when limit > 0, kills the group once it is over the limit.
func (e *Env) pollMemory(limit uint64) {
	t := time.NewTicker(memoryPoll)
	defer t.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-t.C:
			if rss := e.sampleMemory(limit); limit > 0 && rss > limit {
				e.oomSeen.Store(true)
				_ = syscall.Kill(-e.pid, syscall.SIGKILL)
				return
			}
		}
	}
}

// sampleMemory sums VmRSS over the process group, raises the recorded peak (also by the
// main process's VmHWM) and returns the sum.
func (e *Env) sampleMemory(uint64) uint64 {
	var rss, hwm uint64
	for _, pid := range groupMembers(e.pid) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		rss += statusKB(b, "VmRSS:")
		if pid == e.pid {
			hwm = statusKB(b, "VmHWM:")
		}
	}
	peak := max(rss, hwm)
	for {
		old := e.peak.Load()
		if peak <= old || e.peak.CompareAndSwap(old, peak) {
			break
		}
	}
	return rss
}

func statusKB(b []byte, key string) uint64 {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0
	}
	line := b[i+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseUint(string(f[0]), 10, 64)
	return v << 10
}

// groupMembers lists the processes whose process group is pgid.
func groupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pgid}
	}
	var ids []int
	for _, de := range ents {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		if pid == pgid {
			ids = append(ids, pid)
			continue
		}
		b, err := os.ReadFile("/proc/" + de.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces, so cut at the last ')'.
		if k := bytes.LastIndexByte(b, ')'); k >= 0 {
			f := bytes.Fields(b[k+1:])
			if len(f) >= 3 {
				if g, _ := strconv.Atoi(string(f[2])); g == pgid {
					ids = append(ids, pid)
				}
			}
		}
	}
	return ids
}
