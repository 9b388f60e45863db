package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fusionize/fusionize/host"
)

// Collector exports a host's Stats as Prometheus metrics, read at scrape
// time. Every metric carries the labels host and group.
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
	{"fusionize_cold_starts_total", "Instances created.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.ColdStarts) }},
	{"fusionize_async_accepted_total", "Async calls accepted.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.AsyncAccepted) }},
	{"fusionize_async_failed_total", "Accepted async calls that failed.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.AsyncFailed) }},
	{"fusionize_async_inflight", "Accepted async calls still running.", prometheus.GaugeValue, func(s host.Stats) float64 { return float64(s.AsyncInflight) }},
	{"fusionize_remote_calls_total", "Calls sent to other hosts through the transport.", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.RemoteCalls) }},
	{"fusionize_log_lines_dropped_total", "Guest log lines dropped because their invocation had logged its limit (host.Config.MaxLogBytes).", prometheus.CounterValue, func(s host.Stats) float64 { return float64(s.LogLinesDropped) }},
	{"fusionize_instances", "Live task instances.", prometheus.GaugeValue, func(s host.Stats) float64 { return float64(s.Instances) }},
}

// NewCollector returns a Collector of h's counters.
func NewCollector(h *host.Host) *Collector {
	labels := prometheus.Labels{"host": h.Name(), "group": h.Group()}
	c := &Collector{h: h}
	for _, m := range hostMetrics {
		c.descs = append(c.descs, prometheus.NewDesc(m.name, m.help, nil, labels))
	}
	return c
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
	for i, m := range hostMetrics {
		ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.value(s))
	}
}
