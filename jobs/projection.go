package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/poluruprvn/profiles/identity"
)

// ProjectionArgs carries the identity changes of one committed transaction (one per project
// it touched) to the read model. Jobs are not unique: every change has its own version, and the
// read model keeps the highest, so running a job twice or out of order is harmless
// (RELIABILITY.md, River).
//
// On the wire (projection_wire.go) each change's ids are packed into two strings.
type ProjectionArgs struct {
	Changes []identity.Change
}

// KindProjection is the kind of ProjectionArgs jobs. Releases before 2026-12 enqueued
// "identity_projection" jobs that carried whole profiles; a worker of such a release would
// decode this form as an empty change and complete it, losing it. A new kind makes it fail
// the job as unknown, to be retried until an upgraded worker takes it.
const KindProjection = "identity_projection_v2"

// Kind implements river.JobArgs.
func (ProjectionArgs) Kind() string { return KindProjection }

// LegacyProjectionArgs are the jobs of earlier releases, still queued at an upgrade.
type LegacyProjectionArgs struct {
	ProjectionArgs
}

// Kind implements river.JobArgs.
func (LegacyProjectionArgs) Kind() string { return "identity_projection" }

// InsertOpts puts projections on their own queue so a backlog of other work cannot delay reads.
func (ProjectionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueProjection, MaxAttempts: 25}
}

// QueueProjection is the queue of ProjectionArgs jobs.
const QueueProjection = "projection"

// projectionJob is either kind of projection job.
type projectionJob interface {
	river.JobArgs
	changes() []identity.Change
}

func (a ProjectionArgs) changes() []identity.Change { return a.Changes }

// ProjectionWorker hands each change to a Batcher and completes once the batch holding it is
// written, so many jobs share one ClickHouse insert and none completes before its rows land.
// One works ProjectionArgs jobs, another the LegacyProjectionArgs still queued at an upgrade.
type ProjectionWorker[A projectionJob] struct {
	river.WorkerDefaults[A]
	Batcher *Batcher[identity.Change]
}

// Work implements river.Worker.
func (w *ProjectionWorker[A]) Work(ctx context.Context, job *river.Job[A]) error {
	return w.Batcher.Add(ctx, job.Args.changes()...)
}

// Timeout is above the Batcher's WriteTimeout (30 s), so a failed write reaches the job as its
// error, and far below River's rescue horizon (one hour by default), so a stuck insert fails
// and retries rather than being rescued while still running.
func (w *ProjectionWorker[A]) Timeout(*river.Job[A]) time.Duration { return 45 * time.Second }

// Publisher enqueues projections inside the caller's transaction.
type Publisher struct {
	Client *river.Client[pgx.Tx]
}

// PublishTx implements postgres.ChangePublisher.
func (p Publisher) PublishTx(ctx context.Context, tx pgx.Tx, changes []identity.Change) error {
	_, err := p.Client.InsertTx(ctx, tx, ProjectionArgs{Changes: changes}, nil)
	return err
}
