package lambda

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxLogResult is how much of an invocation's log X-Amz-Log-Result carries.
const maxLogResult = 4096

// invokeRequest is an Invoke call as the HTTP handler read it.
type invokeRequest struct {
	ref           functionRef
	payload       []byte
	clientContext string
	tail          bool          // wait for the REPORT line
	network       time.Duration // the emulated round trip the request waited
	xray          string        // its X-Amzn-Trace-Id header
}

// resolveLocked finds the snapshot a reference names; the caller holds em.mu.
func (em *Emulator) resolveLocked(ref functionRef) (*version, string, error) {
	f, ok := em.functions[ref.Name]
	if !ok || f.deleted {
		return nil, "", notFound("Function not found: %s", em.arn(ref.Name, ref.Qualifier))
	}
	v, err := f.resolve(ref.Qualifier, pick)
	if err != nil {
		return nil, "", err
	}
	return v, em.arn(ref.Name, ref.Qualifier), nil
}

func (em *Emulator) arn(name, qualifier string) string {
	a := "arn:aws:lambda:" + em.opts.Region + ":" + em.opts.AccountID + ":function:" + name
	if qualifier != "" {
		a += ":" + qualifier
	}
	return a
}

// invoke runs one synchronous invocation and waits for its result (and with tail, for its
// REPORT). The invocation goes on if ctx ends first; only the wait ends.
func (em *Emulator) invoke(ctx context.Context, req invokeRequest) (*invocation, error) {
	em.mu.Lock()
	if em.closing {
		em.mu.Unlock()
		return nil, ErrClosed
	}
	v, arn, err := em.resolveLocked(req.ref)
	em.mu.Unlock()
	if err != nil {
		return nil, err
	}
	inv := newInvocation(v, arn, req.payload)
	inv.clientContext, inv.network, inv.xray = req.clientContext, req.network, req.xray
	inv.arrived = time.Now()
	if err := em.attempt(ctx, inv); err != nil {
		return nil, err
	}
	done := inv.responded
	if req.tail {
		done = inv.ended
	}
	select {
	case <-done:
		return inv, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// attempt gets an environment for inv and delivers it. An init failure ends inv at once
// with its result.
func (em *Emulator) attempt(ctx context.Context, inv *invocation) error {
	env, initRes, err := em.acquire(ctx, inv.ver, inv.id)
	if err != nil {
		return err
	}
	if initRes != nil {
		inv.respond(*initRes)
		inv.log.WriteString("INIT_REPORT Status: error Error Type: " + initRes.errorType + "\n")
		em.appendFunctionLog(inv.ver.fn.name, initRes.payload)
		close(inv.ended)
		return nil
	}
	if err := env.run(ctx, inv); err != nil {
		em.release(env, false)
		return err
	}
	return nil
}

func (em *Emulator) handleInvoke(w http.ResponseWriter, r *http.Request, rid string) {
	ref, aerr := parseFunctionRef(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	typ := r.Header.Get("X-Amz-Invocation-Type")
	limit := maxSyncRequest
	switch typ {
	case "", "RequestResponse", "DryRun":
	case "Event":
		limit = maxAsyncRequest
	default:
		writeError(w, rid, invalid("X-Amz-Invocation-Type %q: must be RequestResponse, Event or DryRun", typ))
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		writeError(w, rid, invalid("function %s: reading the payload: %v", ref.Name, err))
		return
	}
	if len(payload) > limit {
		writeError(w, rid, tooLarge("Request must be smaller than %d bytes for the InvokeFunction operation", limit))
		return
	}
	// Emulated: the network between the caller's place and this region.
	network, err := em.net.Wait(r.Context(), r, em.Place())
	if err != nil {
		return // the caller went away
	}
	switch typ {
	case "DryRun":
		em.mu.Lock()
		_, _, err := em.resolveLocked(ref)
		em.mu.Unlock()
		if err != nil {
			writeError(w, rid, err)
			return
		}
		w.Header().Set("X-Amzn-RequestId", rid)
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		if err := em.enqueue(ref, payload, rid, r.Header.Get("X-Amzn-Trace-Id")); err != nil {
			writeError(w, rid, err)
			return
		}
		w.Header().Set("X-Amzn-RequestId", rid)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	tail := r.Header.Get("X-Amz-Log-Type") == "Tail"
	cc := r.Header.Get("X-Amz-Client-Context")
	if cc != "" {
		if b, err := base64.StdEncoding.DecodeString(cc); err == nil {
			cc = string(b)
		}
	}
	inv, err := em.invoke(r.Context(), invokeRequest{ref: ref, payload: payload, clientContext: cc, tail: tail, network: network,
		xray: r.Header.Get("X-Amzn-Trace-Id")})
	if err != nil {
		writeError(w, rid, err)
		return
	}
	h := w.Header()
	h.Set("X-Amzn-RequestId", inv.id)
	h.Set("Content-Type", "application/json")
	h.Set("X-Amz-Executed-Version", inv.ver.cfg.VersionString)
	if inv.res.functionError != "" {
		h.Set("X-Amz-Function-Error", inv.res.functionError)
	}
	if tail {
		h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(inv.logTail()))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.res.payload)
}

// logTail is the last 4 KB of the invocation's log, cut at a line start where possible.
func (inv *invocation) logTail() []byte {
	var b []byte
	if inv.env != nil {
		inv.env.mu.Lock()
		b = append(b, inv.log.Bytes()...)
		inv.env.mu.Unlock()
	} else {
		b = append(b, inv.log.Bytes()...)
	}
	if len(b) > maxLogResult {
		b = b[len(b)-maxLogResult:]
		if i := strings.IndexByte(string(b), '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return b
}
