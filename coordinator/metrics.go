package coordinator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the coordinator's Prometheus metrics. Without a registry they are still
// kept (unregistered), so the code never checks for nil.
type metrics struct {
	bytes    *prometheus.CounterVec   // direction, method
	calls    *prometheus.CounterVec   // method, code
	seconds  *prometheus.HistogramVec // method
	phases   *prometheus.HistogramVec // phase
	workers  prometheus.Gauge
	steps    prometheus.Counter
	tileSent prometheus.Counter
	restarts *prometheus.CounterVec // phase
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hess", Subsystem: "coordinator", Name: "bytes_total",
			Help: "gRPC message bytes the coordinator sent to and received from its workers.",
		}, []string{"direction", "method"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hess", Subsystem: "coordinator", Name: "calls_total",
			Help: "Calls to workers, by method and status code.",
		}, []string{"method", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hess", Subsystem: "coordinator", Name: "call_seconds",
			Help:    "Duration of calls to workers, by method.",
			Buckets: prometheus.ExponentialBuckets(1e-4, 4, 12),
		}, []string{"method"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hess", Subsystem: "coordinator", Name: "phase_seconds",
			Help:    "Duration of the phases of a Newton step on the cluster: evaluate, assemble, factor, solve.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 4, 10),
		}, []string{"phase"}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hess", Subsystem: "coordinator", Name: "workers",
			Help: "Workers of the job.",
		}),
		steps: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hess", Subsystem: "coordinator", Name: "directions_total",
			Help: "Newton directions computed (assemble + factor + solve).",
		}),
		tileSent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hess", Subsystem: "coordinator", Name: "peer_tile_bytes_total",
			Help: "Tile bytes the workers reported sending each other during factorizations.",
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hess", Subsystem: "coordinator", Name: "phase_restarts_total",
			Help: "Phases restarted on another set of workers after a worker was lost, by phase.",
		}, []string{"phase"}),
	}
	if reg != nil {
		reg.MustRegister(m.bytes, m.calls, m.seconds, m.phases, m.workers, m.steps, m.tileSent, m.restarts)
	}
	return m
}

// observeBytes counts one message (a clusterrpc.Counter hook).
func (m *metrics) observeBytes(method string, sent bool, n int) {
	dir := "received"
	if sent {
		dir = "sent"
	}
	m.bytes.WithLabelValues(dir, method).Add(float64(n))
}

// phase records the duration of a phase since start.
func (m *metrics) phase(name string, start time.Time) float64 {
	s := time.Since(start).Seconds()
	m.phases.WithLabelValues(name).Observe(s)
	return s
}
