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

// Kind implements river.JobArgs.
func (ProjectionArgs) Kind() string { return "identity_projection" }

// InsertOpts puts projections on their own queue so a backlog of other work cannot delay reads.
func (ProjectionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueProjection, MaxAttempts: 25}
}

// QueueProjection is the queue of ProjectionArgs jobs.
const QueueProjection = "projection"

// ProjectionWorker hands each change to a Batcher and completes once the batch holding it is
// written, so many jobs share one ClickHouse insert and none completes before its rows land.
type ProjectionWorker struct {
	river.WorkerDefaults[ProjectionArgs]
	Batcher *Batcher[identity.Change]
}

// Work implements river.Worker.
func (w *ProjectionWorker) Work(ctx context.Context, job *river.Job[ProjectionArgs]) error {
	return w.Batcher.Add(ctx, job.Args.Changes...)
}

// Timeout is far below River's rescue horizon (one hour by default), so a stuck insert fails
// and retries rather than being rescued while still running.
func (w *ProjectionWorker) Timeout(*river.Job[ProjectionArgs]) time.Duration { return 30 * time.Second }

// Publisher enqueues projections inside the caller's transaction.
type Publisher struct {
	Client *river.Client[pgx.Tx]
}

// PublishTx implements postgres.ChangePublisher.
func (p Publisher) PublishTx(ctx context.Context, tx pgx.Tx, changes []identity.Change) error {
	_, err := p.Client.InsertTx(ctx, tx, ProjectionArgs{Changes: changes}, nil)
	return err
}
