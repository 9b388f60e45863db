package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Orphan is a host process that an earlier adapter on the same directory
// started and left running (its control plane crashed), found and stopped
// by StopOrphans.
type Orphan struct {
	ID  string // the group's deployment ID, "<group>@v<version>"
	PID int
	// Killed: the host did not drain within the drain timeout and was
	// killed with its process group.
	Killed bool
}

// pidRecord is what the adapter writes to <dir>/<id>.pid when it starts a
// host: its pid and the ready file it was told to write, which is on its
// command line and so tells this host from any process that later got the
// same pid.
type pidRecord struct {
	PID   int    `json:"pid"`
	Ready string `json:"ready"`
}

const pidSuffix = ".pid"

func writePID(path string, r pidRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// isHost reports whether pid is a live (not zombie) process whose command
// line carries "--ready-file <ready>": the host the adapter started with
// that ready file. Without /proc (not Linux) nothing can be verified and it
// reports false, so StopOrphans signals nothing.
func isHost(pid int, ready string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S …": the state follows the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--ready-file" && args[i+1] == ready {
			return true
		}
	}
	return false
}

// StopOrphans finds the host processes an earlier local adapter on dir left
// running, from the pid files it keeps there, and stops them: SIGTERM (a
// host drains, finishing its in-flight work, and deregisters), then after
// drain SIGKILL to its whole process group. A pid is signalled only after
// /proc shows it is that host (its command line names the ready file the
// pid file records); stale pid and ready files are removed. It returns the
// hosts it stopped. Run it before deploying into dir: the restarted control
// plane then starts each group afresh, and no two hosts of one name run.
func StopOrphans(ctx context.Context, dir string, drain time.Duration) ([]Orphan, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+pidSuffix))
	if err != nil {
		return nil, fmt.Errorf("local: orphans in %s: %w", dir, err)
	}
	var (
		mu      sync.Mutex
		stopped []Orphan
		errs    []error
		wg      sync.WaitGroup
	)
	for _, path := range paths {
		wg.Go(func() {
			o, found, err := stopOrphan(ctx, path, drain)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if found {
				stopped = append(stopped, o)
			}
		})
	}
	wg.Wait()
	return stopped, errors.Join(errs...)
}

func stopOrphan(ctx context.Context, path string, drain time.Duration) (Orphan, bool, error) {
	o := Orphan{ID: strings.TrimSuffix(filepath.Base(path), pidSuffix)}
	data, err := os.ReadFile(path)
	if err != nil {
		return o, false, fmt.Errorf("local: pid file %s: %w", path, err)
	}
	var r pidRecord
	if err := json.Unmarshal(data, &r); err != nil || r.PID <= 0 {
		// A torn write of a crashed adapter: nothing to verify.
		return o, false, os.Remove(path)
	}
	o.PID = r.PID
	if isHost(r.PID, r.Ready) {
		if err := syscall.Kill(r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return o, true, fmt.Errorf("local: stop orphan %s (pid %d): %w", o.ID, r.PID, err)
		}
		if !waitGone(ctx, r.PID, r.Ready, drain) {
			o.Killed = true
			_ = syscall.Kill(-r.PID, syscall.SIGKILL) // the group: children die too
			_ = syscall.Kill(r.PID, syscall.SIGKILL)
			if !waitGone(context.WithoutCancel(ctx), r.PID, r.Ready, 5*time.Second) {
				return o, true, fmt.Errorf("local: orphan %s (pid %d) survived SIGKILL", o.ID, r.PID)
			}
		}
	} else {
		o.PID = 0
	}
	_ = os.Remove(r.Ready)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return o, o.PID != 0, err
	}
	return o, o.PID != 0, nil
}

// waitGone waits up to limit (or until ctx ends) for pid to stop being the
// host; it reports whether it did.
func waitGone(ctx context.Context, pid int, ready string, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for isHost(pid, ready) {
		select {
		case <-ctx.Done():
			return !isHost(pid, ready)
		case <-tick.C:
		}
	}
	return true
}

// StopOrphans stops the hosts an earlier adapter on the same directory
// left running (package function StopOrphans, with the adapter's drain
// timeout). Call it before the first Deploy.
func (a *Adapter) StopOrphans(ctx context.Context) ([]Orphan, error) {
	return StopOrphans(ctx, a.opts.Dir, a.opts.DrainTimeout)
}

// pidPath is where the adapter records the host of deployment id.
func (a *Adapter) pidPath(id string) string { return filepath.Join(a.opts.Dir, id+pidSuffix) }
