package gcf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fusionize/fusionize/emulators/sandbox"
)

// maxBodyBytes is Cloud Run's limit on a request and a response (HTTP/1).
const maxBodyBytes = 32 << 20

// Cloud Run's answers when it cannot serve a request.
const (
	msgNoInstance = "Rejected by Cloud Run: The request was aborted because there was no available instance. Additional troubleshooting documentation can be found at: https://cloud.google.com/run/docs/troubleshooting#abort-request\n"
	msgMalformed  = "The request failed because either the HTTP response was malformed or connection to the instance had an error. Additional troubleshooting documentation can be found at: https://cloud.google.com/run/docs/troubleshooting#malformed-response-or-connection-error\n"
	msgTimeout    = "upstream request timeout\n"
	msgTooLarge   = "Request Entity Too Large: Cloud Run limits requests and responses to 32 MiB\n"
	msgNotFound   = "Error: Page not found\nThe requested URL was not found on this server.\n"
)

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (e *Emulator) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/upload/", e.serveUpload)
	mux.HandleFunc("/functions/", e.serveFunction)
	mux.HandleFunc("GET /emulator/v1/requests", e.serveRequests)
	return mux
}

// serveRequests lists request reports: GET /emulator/v1/requests?function=F.
func (e *Emulator) serveRequests(w http.ResponseWriter, r *http.Request) {
	reqs := e.Requests(r.URL.Query().Get("function"))
	if reqs == nil {
		reqs = []Request{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"emulated": true, "requests": reqs})
}

// serveFunction is the Cloud Run front of /functions/P/L/F/rest...: the
// function sees /rest.
func (e *Emulator) serveFunction(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/functions/"), "/", 4)
	if len(parts) < 3 {
		http.Error(w, msgNotFound, http.StatusNotFound)
		return
	}
	name := FunctionName{parts[0], parts[1], parts[2]}
	path := "/"
	if len(parts) == 4 {
		path += parts[3]
	}
	if r.ContentLength > maxBodyBytes {
		http.Error(w, msgTooLarge, http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxBodyBytes {
		http.Error(w, msgTooLarge, http.StatusRequestEntityTooLarge)
		return
	}
	// Emulated: the network between the caller's place and the function's.
	network, err := e.net.Wait(r.Context(), r, "gcp/"+name.Location)
	if err != nil {
		return // the client went away
	}
	var retired *revision
	for {
		e.mu.Lock()
		var rev *revision
		if f := e.functions[name.String()]; f != nil {
			rev = f.serving
		}
		e.mu.Unlock()
		if rev == nil {
			http.Error(w, msgNotFound, http.StatusNotFound)
			return
		}
		in, cold, err := rev.pool.acquire(r.Context())
		switch {
		case errors.Is(err, errRetired) && rev == retired:
			e.reject(w, rev, http.StatusServiceUnavailable, msgMalformed, fmt.Errorf("function %s revision %s: stopped", name, rev.name))
			return
		case errors.Is(err, errRetired):
			retired = rev // an update switched revisions: route to the new one
			time.Sleep(time.Millisecond)
			continue
		case errors.Is(err, errNoInstance):
			e.reject(w, rev, http.StatusTooManyRequests, msgNoInstance, err)
			return
		case err != nil && r.Context().Err() != nil:
			return // the client went away
		case err != nil:
			e.log.Warn("gcf: start instance", "err", err)
			e.reject(w, rev, http.StatusServiceUnavailable, msgMalformed, err)
			return
		}
		e.forward(w, r, rev, in, cold, path, body, network)
		return
	}
}

// reject answers a request no instance served; Cloud Run bills nothing for it.
func (e *Emulator) reject(w http.ResponseWriter, rev *revision, code int, msg string, err error) {
	e.record(Request{Function: rev.function.String(), Revision: rev.name, Start: time.Now(), Status: code,
		MemoryMB: rev.config.memoryMiB(), VCPU: rev.config.vcpu, Error: err.Error(), Emulated: true})
	w.Header().Set("X-Emulator", "emulated")
	http.Error(w, msg, code)
}

// forward sends one request to in and reports it as Cloud Run bills it.
func (e *Emulator) forward(w http.ResponseWriter, r *http.Request, rev *revision, in *instance, cold bool, path string, body []byte, network time.Duration) {
	cfg := rev.config
	ctx, cancel := context.WithTimeout(r.Context(), cfg.timeout)
	defer cancel()
	u := "http://" + in.addr + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	var reqBody io.Reader
	if len(body) > 0 {
		reqBody = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, u, reqBody)
	if err != nil {
		rev.pool.release(in, false)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Header.Set("X-Forwarded-For", strings.Split(r.RemoteAddr, ":")[0])
	out.Header.Set("X-Forwarded-Proto", "http")
	out.Host = r.Host
	out.ContentLength = int64(len(body))

	rep := Request{Function: rev.function.String(), Revision: rev.name, Instance: in.id, Start: time.Now(),
		Cold: cold, MemoryMB: cfg.memoryMiB(), VCPU: cfg.vcpu, NetworkRTT: network, Trace: traceOf(r.Header), Emulated: true}
	if cold {
		rep.Init, rep.SandboxDelay, rep.Stretch = in.init, e.opts.SandboxDelay, in.initStretch
	}
	mark := in.env.Mark()
	resp, respBody, err := in.conns.roundTrip(ctx, in.addr, out, maxBodyBytes)
	rep.Duration = in.env.Since(mark)
	rep.WallDuration = max(time.Since(rep.Start), rep.Duration)
	rep.Stretch += rep.WallDuration - rep.Duration
	rep.Billed = billed(rep.Init + rep.Duration)
	rep.CostUSD = cost(rep.Billed, cfg.vcpu, cfg.memoryBytes)

	code, msg, discard := 0, "", false
	switch {
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil:
		code, msg, discard = http.StatusGatewayTimeout, msgTimeout, true
		err = fmt.Errorf("function %s revision %s instance %s: request timed out after %v", rev.function, rev.name, in.id, cfg.timeout)
	case err != nil && r.Context().Err() != nil:
		rev.pool.release(in, false)
		return // the client went away
	case err != nil:
		discard = true
		code, msg = http.StatusServiceUnavailable, msgMalformed
		if oomKilled(in.env) {
			code = http.StatusInternalServerError
			msg = fmt.Sprintf("Memory limit of %d MiB exceeded with %d MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits\n",
				cfg.memoryMiB(), max(mib(in.env.MaxMemoryBytes()), cfg.memoryMiB()+1))
		}
		err = fmt.Errorf("function %s revision %s instance %s: %v (instance: %v)", rev.function, rev.name, in.id, err, in.env.Err())
	case len(respBody) > maxBodyBytes:
		code, msg = http.StatusRequestEntityTooLarge, msgTooLarge
		err = fmt.Errorf("function %s revision %s instance %s: response over %d bytes", rev.function, rev.name, in.id, maxBodyBytes)
	}
	rep.MaxMemoryMB = mib(in.env.MaxMemoryBytes())
	rev.pool.release(in, discard)

	h := w.Header()
	h.Set("X-Emulator", "emulated")
	h.Set("X-Emulator-Duration-Ms", strconv.FormatFloat(float64(rep.Duration)/1e6, 'f', 3, 64))
	h.Set("X-Emulator-Billed-Ms", strconv.FormatInt(rep.Billed.Milliseconds(), 10))
	h.Set("X-Emulator-Memory-Mb", strconv.Itoa(rep.MemoryMB))
	h.Set("X-Emulator-Max-Memory-Mb", strconv.Itoa(rep.MaxMemoryMB))
	h.Set("X-Emulator-Vcpu", strconv.FormatFloat(cfg.vcpu, 'f', -1, 64))
	h.Set("X-Emulator-Cost-Usd", strconv.FormatFloat(rep.CostUSD, 'g', -1, 64))
	h.Set("X-Emulator-Instance", in.id)
	if network > 0 {
		h.Set("X-Emulator-Network-Rtt-Ms", strconv.FormatFloat(float64(network)/1e6, 'f', 3, 64))
	}
	h.Set("X-Emulator-Revision", rev.name)
	if cold {
		h.Set("X-Emulator-Cold", "1")
		h.Set("X-Emulator-Init-Ms", strconv.FormatFloat(float64(rep.Init)/1e6, 'f', 3, 64))
		h.Set("X-Emulator-Sandbox-Delay-Ms", strconv.FormatInt(rep.SandboxDelay.Milliseconds(), 10))
	}
	if err != nil {
		rep.Status, rep.Error = code, err.Error()
		e.record(rep)
		e.log.Warn("gcf: request failed", "status", code, "err", err)
		http.Error(w, msg, code)
		return
	}
	rep.Status = resp.StatusCode
	e.record(rep)
	for k, v := range resp.Header {
		if h.Get(k) == "" || !strings.HasPrefix(k, "X-Emulator") {
			h[k] = v
		}
	}
	for _, hh := range hopHeaders {
		h.Del(hh)
	}
	h.Set("Content-Length", strconv.Itoa(len(respBody)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// traceOf is the trace id Cloud Run's request log gives a request: the
// trace of its traceparent header, else of its X-Cloud-Trace-Context
// (TRACE_ID[/SPAN_ID][;o=1]); "" when it has neither.
func traceOf(h http.Header) string {
	if tp := h.Get("traceparent"); len(tp) == 55 && tp[2] == '-' && tp[35] == '-' {
		if id := strings.ToLower(tp[3:35]); isHex(id) {
			return id
		}
	}
	if v := h.Get("X-Cloud-Trace-Context"); len(v) >= 32 {
		if id := strings.ToLower(v[:32]); isHex(id) && (len(v) == 32 || v[32] == '/' || v[32] == ';') {
			return id
		}
	}
	return ""
}

func isHex(s string) bool { return s != "" && strings.Trim(s, "0123456789abcdef") == "" }

// oomKilled waits briefly for a failed instance to end and tells whether its
// memory limit killed it.
func oomKilled(env *sandbox.Env) bool {
	select {
	case <-env.Done():
	case <-time.After(2 * time.Second):
		return false
	}
	return errors.Is(env.Err(), sandbox.ErrOutOfMemory)
}

func mib(b uint64) int { return int((b + 1<<20 - 1) >> 20) }
