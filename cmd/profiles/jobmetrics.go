package main

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poluruprvn/profiles/db/postgres"
)

// jobCollector reports River's jobs by queue, kind and state: a discarded (poison) job or a
// growing backlog is visible without reading logs. Counting reads every retained job (41 ms
// of Postgres with some 30,000 completed ones), so a count serves every scrape for maxAge:
// scrapers that come often (bench samples /metrics four times a second) cost no more than one.
type jobCollector struct {
	pool   *pgxpool.Pool
	desc   *prometheus.Desc
	maxAge time.Duration

	mu     sync.Mutex
	counts []postgres.JobCount
	at     time.Time
}

func newJobCollector(pool *pgxpool.Pool) *jobCollector {
	return &jobCollector{pool: pool, maxAge: 5 * time.Second, desc: prometheus.NewDesc("profiles_river_jobs",
		"River jobs by queue, kind and state (available, running, retryable, discarded, completed, ...), counted at most every 5 s.",
		[]string{"queue", "kind", "state"}, nil)}
}

func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.current()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, jc := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(jc.Count), jc.Queue, jc.Kind, jc.State)
	}
}

// current returns the kept counts, counting again when they are older than maxAge. A failed
// count is not kept: the next scrape tries again.
func (c *jobCollector) current() ([]postgres.JobCount, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts != nil && time.Since(c.at) < c.maxAge {
		return c.counts, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := postgres.JobCounts(ctx, c.pool)
	if err != nil {
		return nil, err
	}
	c.counts, c.at = counts, time.Now()
	return counts, nil
}
