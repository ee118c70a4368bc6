package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// IdempotencyRetention is how long a message id keeps its answer. SDKs retry within minutes;
// a day covers offline queues that flush the next morning.
const IdempotencyRetention = 24 * time.Hour

// Pruner deletes message-id answers older than a cutoff, at most limit rows per call.
type Pruner interface {
	PruneIdempotencyKeys(ctx context.Context, olderThan time.Time, limit int) (int64, error)
}

// PruneArgs is the periodic job that keeps the idempotency table small.
type PruneArgs struct{}

// Kind implements river.JobArgs.
func (PruneArgs) Kind() string { return "prune_idempotency_keys" }

// PruneWorker deletes expired message ids in bounded batches so no statement runs long.
type PruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	Pruner Pruner
}

// Work implements river.Worker.
func (w *PruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	cutoff := time.Now().Add(-IdempotencyRetention)
	for {
		n, err := w.Pruner.PruneIdempotencyKeys(ctx, cutoff, 10_000)
		if err != nil || n < 10_000 {
			return err
		}
	}
}

// PeriodicJobs are the jobs every River client that works queues schedules.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(10*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return PruneArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(analyzeInterval),
			func() (river.JobArgs, *river.InsertOpts) { return AnalyzeArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
	}
}
