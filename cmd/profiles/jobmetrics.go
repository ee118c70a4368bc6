package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poluruprvn/profiles/db/postgres"
)

// jobCollector reports River's jobs by queue, kind and state at each scrape: a discarded
// (poison) job or a growing backlog is visible without reading logs.
type jobCollector struct {
	pool *pgxpool.Pool
	desc *prometheus.Desc
}

func newJobCollector(pool *pgxpool.Pool) *jobCollector {
	return &jobCollector{pool: pool, desc: prometheus.NewDesc("profiles_river_jobs",
		"River jobs by queue, kind and state (available, running, retryable, discarded, completed, ...).",
		[]string{"queue", "kind", "state"}, nil)}
}

func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := postgres.JobCounts(ctx, c.pool)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, jc := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(jc.Count), jc.Queue, jc.Kind, jc.State)
	}
}
