package main

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poluruprvn/profiles/profiles"
)

// metrics are the Prometheus metrics of one process, served at /metrics. Each process (and each
// test server) has its own registry, so nothing is global.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(extra ...prometheus.Collector) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "profiles_http_requests_total",
			Help: "HTTP requests served, by route (the RPC procedure, or a fixed path) and code (the Connect code of an RPC, else the HTTP status).",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "profiles_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	m.registry.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(extra...)
	return m
}

// observe counts one request. route is never a raw path, which a scanner could fill with
// unbounded values: it is the RPC procedure (a fixed set) or one of our fixed paths, else "other".
func (m *metrics) observe(path string, rec *accessRecord, status int, took time.Duration) {
	route, code := rec.procedure, rec.code
	if route == "" {
		switch path {
		case "/healthz", "/readyz", "/metrics":
			route = path
		default:
			route = "other"
		}
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(route, code).Inc()
	m.duration.WithLabelValues(route).Observe(took.Seconds())
}

// handler serves every metric it can gather: a collector that fails (the job counts, while
// Postgres is away) is logged and left out, rather than failing the scrape of the others.
func (m *metrics) handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	})
}

// figureCollector exports the event-figure cache's counts (nothing without a cache).
type figureCollector struct {
	cache *profiles.FigureCache
	desc  *prometheus.Desc
}

func newFigureCollector(cache *profiles.FigureCache) *figureCollector {
	return &figureCollector{cache: cache, desc: prometheus.NewDesc("profiles_event_figure_reads_total",
		"Event figures of one profile asked for by Get or List, by result: hit (from the cache) or miss (from ClickHouse).",
		[]string{"result"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *figureCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *figureCollector) Collect(ch chan<- prometheus.Metric) {
	if c.cache == nil {
		return
	}
	hits, misses := c.cache.Counts()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(hits), "hit")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(misses), "miss")
}
