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
// One count runs at a time, and a failed one is kept like any other, so a stalled Postgres
// costs one count of at most timeout per maxAge, and no scrape waits behind another's.
type jobCollector struct {
	pool    *pgxpool.Pool
	desc    *prometheus.Desc
	maxAge  time.Duration
	timeout time.Duration
	now     func() time.Time

	mu       sync.Mutex
	counts   []postgres.JobCount
	err      error
	at       time.Time     // when the kept count ended; zero before the first
	counting chan struct{} // closed when the running count ends; nil while none runs
}

func newJobCollector(pool *pgxpool.Pool) *jobCollector {
	return &jobCollector{pool: pool, maxAge: 5 * time.Second, timeout: 2 * time.Second, now: time.Now,
		desc: prometheus.NewDesc("profiles_river_jobs",
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

// current returns the kept count while it is younger than maxAge, else counts again. While a
// count runs, other callers get the previous counts if there are any, else wait for it.
func (c *jobCollector) current() ([]postgres.JobCount, error) {
	c.mu.Lock()
	if !c.at.IsZero() && c.now().Sub(c.at) < c.maxAge {
		defer c.mu.Unlock()
		return c.counts, c.err
	}
	if running := c.counting; running != nil {
		if c.counts != nil {
			defer c.mu.Unlock()
			return c.counts, nil
		}
		c.mu.Unlock()
		<-running
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.counts, c.err
	}
	running := make(chan struct{})
	c.counting = running
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	counts, err := postgres.JobCounts(ctx, c.pool)
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts, c.err, c.at, c.counting = counts, err, c.now(), nil
	close(running)
	return counts, err
}
