package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/poluruprvn/profiles/jobs"
)

// River tuning for thousands of small jobs a second (PLATFORM.md measured about 16k/s of no-op
// jobs with these against about 1k/s with River's defaults): fetch again 5 ms after a fetch,
// poll every 50 ms when LISTEN/NOTIFY is quiet.
const (
	riverFetchCooldown     = 5 * time.Millisecond
	riverFetchPollInterval = 50 * time.Millisecond
	// A job still running after rescueFactor job timeouts is taken for stuck (its process died)
	// and rescued: far enough past JobTimeout that a live job is never rescued while it runs.
	rescueFactor = 10
	// eventWorkers is how many event batch jobs a process works at once. Each waits up to the
	// ClickHouse batcher's delay (200 ms) for company, so 32 workers capped intake near 150
	// batches/s and Track -> eventCount lag grew to seconds under load; waiting workers cost
	// nothing but a goroutine.
	eventWorkers = 256
)

// jobRunner is a process's River client and what its workers need stopped after it.
type jobRunner struct {
	client  *river.Client[pgx.Tx]
	working bool   // it has queues and workers: start and stop apply
	after   func() // run once River has stopped
}

// newJobRunner makes the River client of a process. With cfg.Workers > 0 and workers registered
// it works jobs of the default queue once started; otherwise it only inserts.
func newJobRunner(ctx context.Context, cfg Config, b *backends, d *domain, logger *slog.Logger) (*jobRunner, error) {
	rc := &river.Config{
		Logger:                      logger.With("component", "river"),
		FetchCooldown:               riverFetchCooldown,
		FetchPollInterval:           riverFetchPollInterval,
		CompletedJobRetentionPeriod: cfg.JobRetention,
		JobTimeout:                  cfg.JobTimeout,
		RescueStuckJobsAfter:        rescueFactor * cfg.JobTimeout,
	}
	j := &jobRunner{after: func() {}}
	if cfg.Workers > 0 {
		workers := river.NewWorkers()
		j.after = registerWorkers(workers, cfg, b, d, logger)
		if h := hooksFrom(ctx); h.workers != nil {
			h.workers(workers)
		}
		rc.Workers = workers
		rc.Queues = queues(cfg)
		rc.PeriodicJobs = jobs.PeriodicJobs()
		j.working = true
	}
	client, err := river.NewClient(riverpgxv5.New(b.pool), rc)
	if err != nil {
		j.after()
		return nil, err
	}
	j.client = client
	d.bindRiver(client)
	return j, nil
}

// queues sizes each queue. Projection workers mostly wait for a shared ClickHouse insert, so
// that queue gets PROFILES_WORKERS of them.
func queues(cfg Config) map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		river.QueueDefault:   {MaxWorkers: 20},
		jobs.QueueProjection: {MaxWorkers: cfg.Workers},
		jobs.QueueEvents:     {MaxWorkers: eventWorkers},
	}
}

// start starts working jobs. Their life is ended by stop, not by ctx: cancelling the context
// given to River's Start would cancel running jobs at once.
func (j *jobRunner) start(ctx context.Context) error {
	if !j.working {
		return nil
	}
	return j.client.Start(context.WithoutCancel(ctx))
}

// stop stops fetching jobs and waits for the running ones until softDeadline; only then does
// it cancel what still runs (those jobs are retried later) and wait for it to return, until
// hardDeadline.
func (j *jobRunner) stop(ctx context.Context, softDeadline, hardDeadline time.Time, logger *slog.Logger) error {
	defer j.after()
	if !j.working {
		return nil
	}
	softCtx, cancel := context.WithDeadline(ctx, softDeadline)
	defer cancel()
	err := j.client.Stop(softCtx)
	if err == nil {
		logger.Info("river stopped: every running job finished")
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	logger.Warn("river: jobs still running at the soft-stop deadline; cancelling them (they will be retried)")
	hardCtx, cancel := context.WithDeadline(ctx, hardDeadline)
	defer cancel()
	return j.client.StopAndCancel(hardCtx)
}
