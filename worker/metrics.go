package worker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the worker's Prometheus metrics, registered on its own registry so that
// several workers can live in one process (tests, the embedded default of hess train).
type metrics struct {
	tilesHeld   prometheus.Gauge
	tileBytes   prometheus.Gauge
	jobs        prometheus.Gauge
	bytes       *prometheus.CounterVec   // direction, method
	dataBytes   prometheus.Counter       // training-set bytes received by UploadData
	tasks       *prometheus.CounterVec   // kind
	taskSeconds *prometheus.HistogramVec // kind
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		tilesHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hess", Subsystem: "worker", Name: "tiles_held",
			Help: "Tiles of the distributed Hessian held by this worker (its own, plus factor tiles received from peers).",
		}),
		tileBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hess", Subsystem: "worker", Name: "tile_bytes",
			Help: "Bytes of the tiles held by this worker.",
		}),
		jobs: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hess", Subsystem: "worker", Name: "jobs",
			Help: "Jobs started and not ended.",
		}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hess", Subsystem: "worker", Name: "bytes_total",
			Help: "gRPC message bytes moved by this worker (payload plus gRPC framing), as server and as client of its peers.",
		}, []string{"direction", "method"}),
		dataBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hess", Subsystem: "worker", Name: "data_bytes_received_total",
			Help: "Bytes of training-set encoding received by UploadData (zero for a job whose data was cached).",
		}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hess", Subsystem: "worker", Name: "tasks_total",
			Help: "Tasks run, by kind: evaluate, assemble (one tile), syrk, gemm, potrf, trsm, push (a tile sent), solve.",
		}, []string{"kind"}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hess", Subsystem: "worker", Name: "task_seconds",
			Help:    "Duration of tasks, by kind.",
			Buckets: prometheus.ExponentialBuckets(1e-4, 4, 12), // 0.1 ms .. 7 min
		}, []string{"kind"}),
	}
	reg.MustRegister(m.tilesHeld, m.tileBytes, m.jobs, m.bytes, m.dataBytes, m.tasks, m.taskSeconds,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

// task records one task of a kind that took the given seconds.
func (m *metrics) task(kind string, seconds float64) {
	m.tasks.WithLabelValues(kind).Inc()
	m.taskSeconds.WithLabelValues(kind).Observe(seconds)
}
