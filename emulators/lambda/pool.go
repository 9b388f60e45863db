package lambda

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// pool is a function's environments, guarded by Emulator.mu.
type pool struct {
	envs  []*environment // live: idle, busy or starting
	inUse int            // busy or starting: what counts against concurrency
}

// acquire returns an idle environment of v (the most recently used), or starts one if the
// function's concurrency allows. An init that failed is returned as a result for the
// invoker.
func (em *Emulator) acquire(ctx context.Context, v *version, requestID string) (*environment, *result, error) {
	em.mu.Lock()
	if em.aborting {
		em.mu.Unlock()
		return nil, nil, ErrClosed
	}
	f := v.fn
	if f.deleted || v.retired && v.cfg.VersionString != "$LATEST" {
		em.mu.Unlock()
		return nil, nil, notFound("Function not found: %s:%s", f.arn, v.cfg.VersionString)
	}
	// The limit counts executions, not environments: an idle environment
	// does not let a function past its (reserved) concurrency.
	limit, reason := em.opts.ConcurrencyLimit, "ConcurrentInvocationLimitExceeded"
	if f.reserved != nil && *f.reserved <= limit {
		limit, reason = *f.reserved, "ReservedFunctionConcurrentInvocationLimitExceeded"
	}
	if f.pool.inUse >= limit {
		em.mu.Unlock()
		return nil, nil, &apiError{Status: http.StatusTooManyRequests, Code: "TooManyRequestsException",
			Message: "Rate Exceeded. (function " + f.name + ": " + strconv.Itoa(f.pool.inUse) + " of " + strconv.Itoa(limit) + " concurrent executions busy)",
			Reason:  reason, RetryAfter: 1}
	}
	if !em.opts.ForceColdStart {
		var best *environment
		for _, e := range f.pool.envs {
			if e.ver == v && e.idle && (best == nil || e.lastUsed.After(best.lastUsed)) {
				best = e
			}
		}
		if best != nil {
			best.idle, best.acquired = false, true
			if best.reclaim != nil {
				best.reclaim.Stop()
			}
			f.pool.inUse++
			em.mu.Unlock()
			return best, nil, nil
		}
	}
	f.pool.inUse++
	em.mu.Unlock()
	env, res, err := em.startEnvironment(ctx, v, requestID)
	if env == nil {
		em.mu.Lock()
		f.pool.inUse--
		em.mu.Unlock()
	}
	return env, res, err
}

// track adds a starting environment to its function's pool, busy; false when the emulator
// is ending.
func (em *Emulator) track(env *environment) bool {
	em.mu.Lock()
	defer em.mu.Unlock()
	if em.aborting {
		return false
	}
	env.acquired = true
	env.ver.fn.pool.envs = append(env.ver.fn.pool.envs, env)
	return true
}

// release returns an environment after an invocation: back to the pool when reusable (the
// runtime asked for the next event), else it ends.
func (em *Emulator) release(env *environment, reusable bool) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f := env.ver.fn
	if env.acquired {
		env.acquired = false
		f.pool.inUse--
	}
	select {
	case <-env.gone:
		reusable = false
	default:
	}
	if reusable && !em.aborting && !em.opts.ForceColdStart && !env.ver.retired && !f.deleted {
		env.idle = true
		env.lastUsed = time.Now()
		stamp := env.lastUsed
		env.reclaim = time.AfterFunc(em.opts.KeepAlive, func() { em.reclaimIdle(env, stamp) })
		em.cond.Broadcast() // async dispatchers waiting for an environment
		return
	}
	env.idle = false
	if i := slices.Index(f.pool.envs, env); i >= 0 {
		f.pool.envs = slices.Delete(f.pool.envs, i, i+1)
	}
	em.cond.Broadcast()
	env.stop()
}

// reclaimIdle ends an environment idle since stamp for the keep-alive.
func (em *Emulator) reclaimIdle(env *environment, stamp time.Time) {
	em.mu.Lock()
	if !env.idle || !env.lastUsed.Equal(stamp) {
		em.mu.Unlock()
		return
	}
	env.idle = false
	f := env.ver.fn
	if i := slices.Index(f.pool.envs, env); i >= 0 {
		f.pool.envs = slices.Delete(f.pool.envs, i, i+1)
	}
	em.mu.Unlock()
	em.log.Debug("lambda: reclaimed idle environment", "function", f.name, "environment", env.name)
	env.stop()
}

// retireLocked ends the idle environments of a snapshot no longer invocable (an updated
// $LATEST, a deleted version or function); busy ones end when their invocation does.
func (em *Emulator) retireLocked(v *version) {
	v.retired = true
	f := v.fn
	for _, e := range slices.Clone(f.pool.envs) {
		if e.ver == v && e.idle {
			e.idle = false
			if e.reclaim != nil {
				e.reclaim.Stop()
			}
			f.pool.envs = slices.DeleteFunc(f.pool.envs, func(x *environment) bool { return x == e })
			e.stop()
		}
	}
}

// Environments tells how many environments a function has: alive (idle, busy or starting)
// and busy.
func (em *Emulator) Environments(function string) (alive, busy int) {
	em.mu.Lock()
	defer em.mu.Unlock()
	f, ok := em.functions[function]
	if !ok {
		return 0, 0
	}
	return len(f.pool.envs), f.pool.inUse
}
