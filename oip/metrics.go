package oip

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/implicitlab/implicit/api"
)

// metrics are the server's Prometheus metrics. Labels take only bounded
// values: a route pattern, a declared model's name (else ""), a status
// code, a sample status.
type metrics struct {
	requests   *prometheus.CounterVec   // protocol, route, model, code
	duration   *prometheus.HistogramVec // protocol, route, model
	samples    *prometheus.CounterVec   // model, status
	iterations *prometheus.HistogramVec // model
	running    prometheus.Gauge
	waiting    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, slots int) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "implicit_requests_total",
			Help: "Requests answered, by protocol (rest, grpc), route, model and status code (HTTP status, or gRPC code name; 499: the client went away).",
		}, []string{"protocol", "route", "model", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "implicit_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by protocol, route and model.",
			Buckets: []float64{1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"protocol", "route", "model"}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "implicit_samples_total",
			Help: "Samples solved, by model and status (converged, iteration limit, diverged, non-finite).",
		}, []string{"model", "status"}),
		iterations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "implicit_sample_iterations",
			Help:    "Fixed-point iterations a sample ran, by model.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 18),
		}, []string{"model"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "implicit_pool_busy",
			Help: "Solves running: the solver slots (sandboxed instances) in use.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "implicit_pool_waiting",
			Help: "Requests waiting for a free solver slot.",
		}),
	}
	size := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "implicit_pool_size",
		Help: "Solver slots: how many solves run at once (--instances).",
	})
	size.Set(float64(slots))
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.samples, m.iterations, m.running, m.waiting, size} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerStandard registers the Go runtime's and the process's metrics.
func registerStandard(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) observeSample(model string, smp api.Sample) {
	m.samples.WithLabelValues(model, smp.Status.String()).Inc()
	m.iterations.WithLabelValues(model).Observe(float64(smp.Iterations))
}

// observeRequest counts a request answered with code after it began at t0.
func (m *metrics) observeRequest(protocol, route, model, code string, t0 time.Time) {
	m.requests.WithLabelValues(protocol, route, model, code).Inc()
	m.duration.WithLabelValues(protocol, route, model).Observe(time.Since(t0).Seconds())
}
