package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/codes"

	"github.com/fusionize/fusionize/host"
	"github.com/fusionize/fusionize/host/transport/wire"
)

// Labels of every metric of a host: host and group are fixed for the
// server's life; setup_version is the version the host routes by when the
// sample is taken ("0" before it has one). The version is a label of its
// own, never part of host, so a new deployment adds samples to the same
// series names rather than new ones, and a query can sum over versions.
const (
	labelHost    = "host"
	labelGroup   = "group"
	labelVersion = "setup_version"
)

// Collector exports a host's Stats as Prometheus metrics, read at scrape
// time. Every metric carries the labels host, group and setup_version.
type Collector struct {
	h     *host.Host
	descs []*prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// hostMetrics lists the metrics of a Collector, in the order of its descs.
var hostMetrics = []struct {
	name, help string
	kind       prometheus.ValueType
	value      func(host.Stats) float64
}{
	{"fusionize_invocations_total", "Task invocations run on the host.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.Invocations) }},
	{"fusionize_failures_total", "Invocations that failed, for any reason.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.Failures) }},
	{"fusionize_traps_total", "Invocations whose instance trapped or exited.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.Traps) }},
	{"fusionize_deadlines_total", "Invocations stopped by their deadline.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.Deadlines) }},
	{"fusionize_cold_starts_total", "Invocations that were the first request of a new task instance (what spans mark cold): each task's first request in a new host, and the first of each instance the pool adds under concurrent load.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.ColdStarts) }},
	{"fusionize_instances_created_total", "Task instances created (at load, for the pool under concurrent load, in place of a discarded one), whether or not they served a request yet.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.InstancesCreated) }},
	{"fusionize_async_accepted_total", "Async calls accepted.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.AsyncAccepted) }},
	{"fusionize_async_failed_total", "Accepted async calls that failed.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.AsyncFailed) }},
	{"fusionize_async_inflight", "Accepted async calls still running.", prometheus.GaugeValue, func(s host.Stats) float64 { return float64(s.AsyncInflight) }},
	{"fusionize_remote_calls_total", "Calls sent to other hosts through the transport.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.RemoteCalls) }},
	{"fusionize_log_lines_dropped_total", "Guest log lines dropped because their invocation had logged its limit (host.Config.MaxLogBytes).", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.LogLinesDropped) }},
	{"fusionize_instances", "Live task instances.", prometheus.GaugeValue, func(s host.Stats) float64 { return float64(s.Instances) }},
}

// NewCollector returns a Collector of h's counters, labelled host=hostLabel
// (h.Name() when empty).
func NewCollector(h *host.Host, hostLabel string) *Collector {
	c := &Collector{h: h}
	labels := constLabels(h, hostLabel)
	for _, m := range hostMetrics {
		c.descs = append(c.descs, prometheus.NewDesc(m.name, m.help, []string{labelVersion}, labels))
	}
	return c
}

func constLabels(h *host.Host, hostLabel string) prometheus.Labels {
	if hostLabel == "" {
		hostLabel = h.Name()
	}
	return prometheus.Labels{labelHost: hostLabel, labelGroup: h.Group()}
}

// versionLabel is the setup_version label value of h now.
func versionLabel(h *host.Host) string {
	if su := h.Setup(); su != nil {
		return strconv.FormatInt(su.Version, 10)
	}
	return "0"
}

// Describe sends the descriptors of the metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect takes a snapshot of the host's Stats and sends it.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Stats()
	v := versionLabel(c.h)
	for i, m := range hostMetrics {
		ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.value(s), v)
	}
}

// latencyBuckets span 100 µs … 26 s: fused calls to cold starts.
var latencyBuckets = prometheus.ExponentialBuckets(100e-6, 4, 10)

// serverMetrics are the histograms a Server keeps.
type serverMetrics struct {
	requests *prometheus.HistogramVec // Invoke served, by task and gRPC code
	remote   *prometheus.HistogramVec // calls sent, by transport and host code
}

func newServerMetrics(labels prometheus.Labels) serverMetrics {
	return serverMetrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "fusionize_request_duration_seconds",
			Help:        "Duration of HostService.Invoke requests served, by task and gRPC status code.",
			ConstLabels: labels,
			Buckets:     latencyBuckets,
		}, []string{"task", "code", labelVersion}),
		remote: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "fusionize_remote_call_duration_seconds",
			Help:        "Duration of calls this host sent to tasks of other groups, as the caller saw it (transport included), by transport (the endpoint kind: grpc, lambda, https) and the host code they ended with.",
			ConstLabels: labels,
			Buckets:     latencyBuckets,
		}, []string{"transport", "code", labelVersion}),
	}
}

func (m serverMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.remote} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// newRegistry is the default registry of a Server: its own metrics plus the
// Go runtime's and the process's, as operators expect of any Go service.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func (s *Server) observe(task string, code codes.Code, start time.Time) {
	if task == "" {
		task = "-"
	}
	s.metrics.requests.WithLabelValues(task, code.String(), versionLabel(s.h)).Observe(time.Since(start).Seconds())
}

// ObserveRemoteCall records one call the host sent to another group: its
// transport (endpoint kind), the host code it ended with and how long it
// took. It is a host/transport.Observer: hand it to the host's Mux
// (mux.Observe(srv.ObserveRemoteCall)).
func (s *Server) ObserveRemoteCall(kind string, code host.Code, elapsed time.Duration) {
	reason := "OK"
	if code != host.CodeOK {
		reason = wire.Reason(code)
	}
	s.metrics.remote.WithLabelValues(kind, reason, versionLabel(s.h)).Observe(elapsed.Seconds())
}
