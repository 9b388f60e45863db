package host

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/fusionize/fusionize/api/manifest"
)

// LoadApp loads the modules of the named tasks of app from their built
// module files, compiling up to GOMAXPROCS at a time. A nil tasks loads every
// task of the app. digests, if not nil, maps task names to the digests their
// modules must have.
func (h *Host) LoadApp(ctx context.Context, app *manifest.App, tasks []string, digests map[string]string) error {
	if tasks == nil {
		tasks = app.TaskNames()
	}
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	errs := make([]error, len(tasks))
	for i, name := range tasks {
		t, ok := app.Task(name)
		if !ok {
			errs[i] = fmt.Errorf("app %s: %w: %q", app.Name, ErrUnknownTask, name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			errs[i] = h.LoadFile(ctx, name, app.ModulePath(t), digests[name])
		}()
	}
	wg.Wait()
	return errors.Join(errs...) // nil entries are skipped
}
