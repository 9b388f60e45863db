package sandbox

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// counters reads an environment's kernel counters for [Env.Mark] on every request, so it
// keeps the files it reads open and rereads them with pread at offset 0 (the kernel
// regenerates a seq_file read from the start), into one buffer, without allocating once
// the environment's threads are known. A mark costs one pread per thread, one of cpu.stat
// and one of /proc/PID/stat; opening, reading and closing each file cost three system calls
// and several allocations.
//
// The thread list is read again only when the main process's thread count (in
// /proc/PID/stat) has changed or a thread's file no longer reads, and then opened anew:
// cgroup v1 keeps the list an open tasks file read first and serves it to later reads for
// up to a second, so threads started since would go unseen.
type counters struct {
	mu      sync.Mutex
	pid     int
	list    *byte        // the cgroup's thread list (tasks / cgroup.threads), NUL-terminated; nil without
	stat    int          // /proc/PID/stat, for the thread count; -1 when it cannot be opened
	cpuStat int          // the cgroup's cpu.stat; -1 without
	peak    int          // the cgroup's peak memory (max_usage_in_bytes / memory.peak); -1 without
	v2      bool         // cgroup v2: cpu.stat counts microseconds
	listed  int          // the main process's thread count when the list was last read; -1 never
	threads []threadStat // one per thread, in the order the last list gave
	fresh   []threadStat // scratch for the next list
	buf     [4096]byte   // one read at a time
	ids     []int        // scratch: the thread ids just listed
	dir     *os.File     // fallback: /proc/PID/task, listed again on each mark
	closed  bool
}

// threadStat is one thread's open /proc/TID/schedstat.
type threadStat struct {
	tid, fd int
}

func newCounters(pid int, cg *cgroup) *counters {
	c := &counters{pid: pid, cpuStat: -1, peak: -1, listed: -1}
	c.stat = openRead("/proc/" + strconv.Itoa(pid) + "/stat")
	if cg != nil {
		dir, file, peak := cg.cpu, "tasks", "memory.max_usage_in_bytes"
		if dir == "" {
			dir = cg.mem
		}
		if cg.version == 2 {
			file, peak = "cgroup.threads", "memory.peak"
			c.v2 = true
		}
		c.list, _ = syscall.BytePtrFromString(dir + "/" + file)
		if cg.cpu != "" {
			c.cpuStat = openRead(cg.cpu + "/cpu.stat")
		}
		if cg.mem != "" {
			c.peak = openRead(cg.mem + "/" + peak)
		}
	}
	return c
}

// maxUsage is the cgroup's peak memory; ok is false where it cannot be read.
func (c *counters) maxUsage() (v uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.peak < 0 {
		return 0, false
	}
	b, ok := c.pread(c.peak)
	if !ok {
		return 0, false
	}
	v, _ = leadingUint(b)
	return v, true
}

func openRead(path string) int {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// openList opens the thread list without allocating (syscall.Open copies its path); -1
// when path is nil or the file cannot be opened.
func openList(path *byte) int {
	if path == nil {
		return -1
	}
	dirfd := atFDCWD
	fd, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
		syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return -1
	}
	return int(fd)
}

// atFDCWD makes openat resolve a relative path from the working directory (the paths here
// are absolute).
const atFDCWD = -100

// pread reads the whole (small) file behind fd into c.buf; c.mu must be held.
func (c *counters) pread(fd int) ([]byte, bool) {
	for {
		n, err := syscall.Pread(fd, c.buf[:], 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return nil, false
		}
		return c.buf[:n], true
	}
}

// read sums CPU time over the environment's threads, puts each thread's run_delay in
// delays (n of them) and reads the cgroup's throttled time.
func (c *counters) read(delays *[markThreads]threadDelay) (cpu, throttled time.Duration, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, 0, 0
	}
	if k := c.numThreads(); k < 0 || k != c.listed {
		c.listThreads()
		c.listed = k
	}
	cpu, n, ok := c.sum(delays)
	if !ok { // a thread ended (and maybe another began): list them again
		c.listThreads()
		cpu, n, _ = c.sum(delays)
	}
	if c.cpuStat >= 0 {
		if b, ok := c.pread(c.cpuStat); ok {
			if c.v2 {
				throttled = time.Duration(keyUint(b, "throttled_usec")) * time.Microsecond
			} else {
				throttled = time.Duration(keyUint(b, "throttled_time"))
			}
		}
	}
	return cpu, throttled, n
}

// sum adds up CPU time over the listed threads and puts their run_delay in delays, the
// threads past the first markThreads-1 summed into the last slot; ok is false when a
// thread's file did not read.
func (c *counters) sum(delays *[markThreads]threadDelay) (cpu time.Duration, n int, ok bool) {
	ok = true
	for i := range c.threads {
		b, read := c.pread(c.threads[i].fd)
		if !read {
			ok = false
			continue
		}
		run, rest := leadingUint(b)
		wait, _ := leadingUint(rest)
		cpu += time.Duration(run)
		switch {
		case n < markThreads-1:
			delays[n] = threadDelay{tid: c.threads[i].tid, delay: time.Duration(wait)}
			n++
		case n == markThreads-1:
			delays[n] = threadDelay{tid: -1, delay: time.Duration(wait)}
			n++
		default:
			delays[n-1].delay += time.Duration(wait)
		}
	}
	return cpu, n, ok
}

// numThreads is the main process's thread count (field 20 of /proc/PID/stat), -1 when
// unknown.
func (c *counters) numThreads() int {
	if c.stat < 0 {
		return -1
	}
	b, ok := c.pread(c.stat)
	if !ok {
		return -1
	}
	// pid (comm) state ppid ...: comm may hold anything, so count fields after the last ')'.
	k := bytes.LastIndexByte(b, ')')
	if k < 0 {
		return -1
	}
	b = b[k+1:]
	for field := 3; field < 20; field++ {
		for len(b) > 0 && b[0] == ' ' {
			b = b[1:]
		}
		i := bytes.IndexByte(b, ' ')
		if i < 0 {
			return -1
		}
		b = b[i:]
	}
	n, _ := leadingUint(b)
	return int(n)
}

// listThreads brings c.threads up to the environment's current threads: it keeps the open
// files of threads still listed, opens those of new threads and closes the rest.
func (c *counters) listThreads() {
	c.ids = c.ids[:0]
	listed := false
	if fd := openList(c.list); fd >= 0 {
		b, ok := c.pread(fd)
		_ = syscall.Close(fd)
		if ok {
			listed = true
			for len(b) > 0 {
				var id uint64
				if id, b = leadingUint(b); id > 0 {
					c.ids = append(c.ids, int(id))
				}
			}
		}
	}
	if !listed {
		c.ids = c.procThreads(c.ids)
	}
	c.fresh = c.fresh[:0]
	for _, id := range c.ids {
		fd := -1
		for j := range c.threads {
			if c.threads[j].tid == id {
				fd, c.threads[j].fd = c.threads[j].fd, -1
				break
			}
		}
		if fd < 0 {
			if fd = openRead("/proc/" + strconv.Itoa(id) + "/schedstat"); fd < 0 {
				continue
			}
		}
		c.fresh = append(c.fresh, threadStat{tid: id, fd: fd})
	}
	for _, t := range c.threads {
		if t.fd >= 0 {
			_ = syscall.Close(t.fd)
		}
	}
	c.threads, c.fresh = c.fresh, c.threads
}

// procThreads lists /proc/PID/task (where there is no cgroup to list the threads).
func (c *counters) procThreads(ids []int) []int {
	if c.dir == nil {
		f, err := os.Open("/proc/" + strconv.Itoa(c.pid) + "/task")
		if err != nil {
			return ids
		}
		c.dir = f
	} else if _, err := c.dir.Seek(0, 0); err != nil {
		return ids
	}
	names, err := c.dir.Readdirnames(-1)
	if err != nil {
		return ids
	}
	for _, n := range names {
		if id, err := strconv.Atoi(n); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// close releases every file; later reads return zeros.
func (c *counters) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for _, t := range c.threads {
		_ = syscall.Close(t.fd)
	}
	c.threads = nil
	for _, fd := range []int{c.stat, c.cpuStat, c.peak} {
		if fd >= 0 {
			_ = syscall.Close(fd)
		}
	}
	if c.dir != nil {
		_ = c.dir.Close()
	}
}

// leadingUint parses the decimal number after any leading blanks of b and returns it with
// what follows it.
func leadingUint(b []byte) (uint64, []byte) {
	i := 0
	for i < len(b) && (b[i] < '0' || b[i] > '9') {
		i++
	}
	var v uint64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + uint64(b[i]-'0')
	}
	return v, b[i:]
}

// keyUint finds the line "key value" in a flat keyed file such as cpu.stat.
func keyUint(b []byte, key string) uint64 {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) > len(key) && line[len(key)] == ' ' && string(line[:len(key)]) == key {
			v, _ := leadingUint(line[len(key):])
			return v
		}
	}
	return 0
}
