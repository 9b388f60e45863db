package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Support tells which controls this machine allows.
type Support struct {
	CPUQuota    bool   // a CFS quota per environment
	MemoryLimit bool   // a memory limit per environment
	Cgroup      int    // 1 or 2; 0 when neither control is available
	Reason      string // why a control is missing; empty when both are there
}

var (
	supportOnce sync.Once
	support     Support
	// cgroupRoot is where the cgroup hierarchies are mounted.
	cgroupRoot = "/sys/fs/cgroup"
)

// parentName is the cgroup under each controller's root that holds the environments.
const parentName = "fusionize-sandbox"

// Supported probes (once) which controls this machine allows, by creating and removing a
// cgroup under each controller.
//
// It also removes empty environment cgroups left for more than [StaleAfter] by processes
// that ended without Stop (killed test binaries, crashed hosts).
func Supported() Support {
	supportOnce.Do(func() {
		support = probe()
		removeStale()
	})
	return support
}

// StaleAfter is how old an empty environment cgroup must be for [Supported] to remove it.
const StaleAfter = time.Minute

func removeStale() {
	var parents []string
	for _, ctrl := range []string{"cpu", "memory", ""} {
		parents = append(parents, filepath.Join(cgroupRoot, ctrl, parentName))
	}
	for _, p := range parents {
		ents, err := os.ReadDir(p)
		if err != nil {
			continue
		}
		for _, de := range ents {
			if !de.IsDir() {
				continue
			}
			d := filepath.Join(p, de.Name())
			fi, err := os.Stat(d)
			if err != nil || time.Since(fi.ModTime()) < StaleAfter {
				continue
			}
			if procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil && len(bytes.TrimSpace(procs)) == 0 {
				_ = os.Remove(d)
			}
		}
	}
}

func probe() Support {
	var reasons []string
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		// cgroup v2 unified hierarchy mounted at the root.
		s := Support{Cgroup: 2}
		ctrl, _ := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
		dir := filepath.Join(cgroupRoot, parentName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Support{Reason: "cgroup v2: " + err.Error()}
		}
		_ = os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644)
		sub, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
		s.CPUQuota = bytes.Contains(ctrl, []byte("cpu")) && bytes.Contains(sub, []byte("cpu"))
		s.MemoryLimit = bytes.Contains(sub, []byte("memory"))
		if !s.CPUQuota {
			reasons = append(reasons, "cgroup v2: cpu controller not delegated to "+dir)
		}
		if !s.MemoryLimit {
			reasons = append(reasons, "cgroup v2: memory controller not delegated to "+dir)
		}
		if !s.CPUQuota && !s.MemoryLimit {
			s.Cgroup = 0
		}
		s.Reason = strings.Join(reasons, "; ")
		return s
	}
	s := Support{Cgroup: 1}
	try := func(ctrl, file string) bool {
		base := filepath.Join(cgroupRoot, ctrl)
		if _, err := os.Stat(filepath.Join(base, file)); err != nil {
			reasons = append(reasons, fmt.Sprintf("cgroup v1 %s: %s not found", ctrl, filepath.Join(base, file)))
			return false
		}
		dir := filepath.Join(base, parentName, fmt.Sprintf("probe-%d", os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			reasons = append(reasons, fmt.Sprintf("cgroup v1 %s: %v", ctrl, err))
			return false
		}
		defer os.Remove(dir)
		if err := os.WriteFile(filepath.Join(dir, file), []byte("-1"), 0o644); err != nil {
			reasons = append(reasons, fmt.Sprintf("cgroup v1 %s: %v", ctrl, err))
			return false
		}
		return true
	}
	s.CPUQuota = try("cpu", "cpu.cfs_quota_us")
	s.MemoryLimit = try("memory", "memory.limit_in_bytes")
	if !s.CPUQuota && !s.MemoryLimit {
		s.Cgroup = 0
	}
	s.Reason = strings.Join(reasons, "; ")
	return s
}

// cgroup is one environment's cgroups: v1 one directory per controller, v2 one for both.
type cgroup struct {
	version int
	cpu     string // v1 cpu dir, or the v2 dir when the cpu controller is on
	mem     string // v1 memory dir, or the v2 dir when the memory controller is on
	dirs    []string
}

func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '_'
		}
		return r
	}, name)
}

func newCgroup(name string, l Limits, sup Support) (*cgroup, error) {
	name = sanitize(name)
	if name == "." || name == ".." {
		name = "_" + name
	}
	cg := &cgroup{version: sup.Cgroup}
	mk := func(dir string) error {
		if err := os.Mkdir(dir, 0o755); err != nil {
			if !errors.Is(err, os.ErrExist) {
				return err
			}
			// A stale cgroup from an earlier run: reuse it only if empty.
			if procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(bytes.TrimSpace(procs)) > 0 {
				return fmt.Errorf("cgroup %s is in use", dir)
			}
		}
		cg.dirs = append(cg.dirs, dir)
		return nil
	}
	quota := int64(l.VCPU * float64(CFSPeriod/time.Microsecond))
	if quota < int64(MinQuota/time.Microsecond) {
		quota = int64(MinQuota / time.Microsecond)
	}
	var err error
	if sup.Cgroup == 2 {
		dir := filepath.Join(cgroupRoot, parentName, name)
		if err = mk(dir); err != nil {
			return nil, err
		}
		if sup.CPUQuota {
			cg.cpu = dir
			if l.VCPU > 0 {
				err = write(dir, "cpu.max", fmt.Sprintf("%d %d", quota, CFSPeriod/time.Microsecond))
			}
		}
		if sup.MemoryLimit && err == nil {
			cg.mem = dir
			if l.MemoryMB > 0 {
				err = write(dir, "memory.max", strconv.FormatInt(int64(l.MemoryMB)<<20, 10))
				if err == nil {
					_ = write(dir, "memory.swap.max", "0")
				}
			}
		}
	} else {
		if sup.CPUQuota {
			cg.cpu = filepath.Join(cgroupRoot, "cpu", parentName, name)
			if err = mk(cg.cpu); err == nil && l.VCPU > 0 {
				err = write(cg.cpu, "cpu.cfs_period_us", strconv.FormatInt(int64(CFSPeriod/time.Microsecond), 10))
				if err == nil {
					err = write(cg.cpu, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
				}
			}
		}
		if sup.MemoryLimit && err == nil {
			cg.mem = filepath.Join(cgroupRoot, "memory", parentName, name)
			if err = mk(cg.mem); err == nil && l.MemoryMB > 0 {
				limit := strconv.FormatInt(int64(l.MemoryMB)<<20, 10)
				err = write(cg.mem, "memory.limit_in_bytes", limit)
				if _, serr := os.Stat(filepath.Join(cg.mem, "memory.memsw.limit_in_bytes")); err == nil && serr == nil {
					err = write(cg.mem, "memory.memsw.limit_in_bytes", limit)
				}
				_ = write(cg.mem, "memory.swappiness", "0")
			}
		}
	}
	if err != nil {
		cg.remove()
		return nil, err
	}
	return cg, nil
}

func write(dir, file, v string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644); err != nil {
		return fmt.Errorf("cgroup: write %s to %s: %w", v, filepath.Join(dir, file), err)
	}
	return nil
}

func (cg *cgroup) add(pid int) error {
	for _, d := range cg.dirs {
		if err := write(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// oomKilled tells whether the memory controller killed a task of this cgroup.
func (cg *cgroup) oomKilled(sigkill bool) bool {
	if cg.mem == "" {
		return false
	}
	file, key := "memory.oom_control", "oom_kill"
	if cg.version == 2 {
		file = "memory.events"
	}
	if v, ok := readKey(filepath.Join(cg.mem, file), key); ok {
		return v > 0
	}
	// Older kernels lack the oom_kill counter: a SIGKILL after hitting the limit.
	fc, _ := readUint(filepath.Join(cg.mem, "memory.failcnt"))
	return sigkill && fc > 0
}

func (cg *cgroup) maxUsage() (uint64, bool) {
	file := "memory.max_usage_in_bytes"
	if cg.version == 2 {
		file = "memory.peak"
	}
	return readUint(filepath.Join(cg.mem, file))
}

// remove kills what is left in the cgroups and removes them.
func (cg *cgroup) remove() error {
	var errs []error
	for i := len(cg.dirs) - 1; i >= 0; i-- {
		d := cg.dirs[i]
		var err error
		for try := 0; try < 100; try++ {
			if err = os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			if b, rerr := os.ReadFile(filepath.Join(d, "cgroup.procs")); rerr == nil {
				for _, f := range bytes.Fields(b) {
					if pid, perr := strconv.Atoi(string(f)); perr == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	cg.dirs = nil
	return errors.Join(errs...)
}

func readUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	return v, err == nil
}

// readKey reads "key value" from a flat keyed file such as cpu.stat.
func readKey(path, key string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
