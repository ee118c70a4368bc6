package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"golang.org/x/sync/errgroup"

	"github.com/poluruprvn/profiles/events"
	"github.com/poluruprvn/profiles/identity"
)

// QueueEvents is the queue of EventBatchArgs jobs, apart from projections so that a backlog of
// events never delays profile reads (and the reverse).
const QueueEvents = "events"

// EventBatchArgs names one event_batches row to carry into ClickHouse. Jobs are not unique: a
// batch has exactly one job, inserted in the transaction that writes it, and a second run of
// the same batch (retry, rescue, duplicate) writes rows that collapse by message id.
type EventBatchArgs struct {
	BatchID int64 `json:"batchId"`
}

// Kind implements river.JobArgs.
func (EventBatchArgs) Kind() string { return "event_batch" }

// InsertOpts puts event batches on QueueEvents. 25 attempts with River's backoff (attempt^4
// seconds) span about three weeks of ClickHouse outage before a job is discarded.
func (EventBatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEvents, MaxAttempts: 25}
}

// EventPublisher enqueues event batch jobs inside the committer's transaction. It implements
// postgres.BatchPublisher.
type EventPublisher struct {
	Client *river.Client[pgx.Tx]
}

// PublishBatchTx implements postgres.BatchPublisher.
func (p EventPublisher) PublishBatchTx(ctx context.Context, tx pgx.Tx, batchID int64) error {
	_, err := p.Client.InsertTx(ctx, tx, EventBatchArgs{BatchID: batchID}, nil)
	return err
}

// EventBatchStore is what the worker needs of Postgres; postgres.EventBatchStore implements it.
type EventBatchStore interface {
	// LoadEventBatch returns the events of a batch; found is false when the batch is gone (an
	// earlier run finished it). An undecodable payload returns an error wrapping
	// events.ErrCorrupt.
	LoadEventBatch(ctx context.Context, id int64) (recs []events.Record, found bool, err error)
	// UnknownSubjects returns those subjects whose distinct id has no profile, in one query.
	UnknownSubjects(ctx context.Context, subjects []events.Subject) ([]events.Subject, error)
	// FinishEventBatch deletes the batch and calls complete in one transaction.
	FinishEventBatch(ctx context.Context, id int64, complete func(context.Context, pgx.Tx) error) error
}

// Observer makes sure distinct ids have profiles, creating an anonymous one for each that has
// none. IdentityObserver adapts identity.Service to it.
type Observer interface {
	// ObserveAll is a no-op for ids that have a profile, and takes at most
	// identity.MaxObserveIDs ids of one project. Ids identity refuses are skipped and returned;
	// any error fails the job, which retries.
	ObserveAll(ctx context.Context, projectID string, distinctIDs []string) (refused []string, err error)
}

// IdentityObserver is the Observer of identity.Service.
type IdentityObserver struct {
	Service *identity.Service
}

// ObserveAll implements Observer.
func (o IdentityObserver) ObserveAll(ctx context.Context, projectID string, distinctIDs []string) ([]string, error) {
	return o.Service.ObserveAll(ctx, projectID, distinctIDs)
}

// EventBatchWorker carries one event batch from Postgres into ClickHouse:
//
//  1. load the batch (gone: an earlier run finished it, done);
//  2. hand its rows to the events' Batcher and wait for the shared insert that carries them;
//  3. give every distinct id without a profile an anonymous one (Observer), so a later
//     Identify finds it and merges it, and the events count for whoever the id joins;
//  4. delete the batch and complete the job in one transaction (river.JobCompleteTx).
//
// A crash or error anywhere before 4 re-runs the job: the rows are inserted again and collapse
// by message id on read; ObserveAll finds the profiles it made. A payload that cannot be decoded
// fails every attempt and ends discarded (logged at error on each attempt); its row stays in
// event_batches for inspection, and other jobs are not held up.
type EventBatchWorker struct {
	river.WorkerDefaults[EventBatchArgs]
	Store    EventBatchStore
	Batcher  *Batcher[events.Record]
	Observer Observer
	Logger   *slog.Logger
	// ObserveConcurrency bounds concurrent ObserveAll calls of one job [4]: a batch from many
	// new visitors has thousands of unknown ids, identity.MaxObserveIDs per call.
	ObserveConcurrency int
	// Subjects, when set, remembers the ids that have a profile and shares the observation of
	// an id among the jobs that meet it at once; nil asks Postgres about every id of every job.
	Subjects *Subjects
}

// Timeout is far below River's rescue horizon (one hour by default; ten job timeouts in
// cmd): waiting for the shared insert takes at most the batcher's delay plus one insert
// (WriteTimeout, 30 s at worst), and observing a batch of thousands of new ids a few seconds.
func (w *EventBatchWorker) Timeout(*river.Job[EventBatchArgs]) time.Duration { return time.Minute }

// Work implements river.Worker.
func (w *EventBatchWorker) Work(ctx context.Context, job *river.Job[EventBatchArgs]) error {
	id := job.Args.BatchID
	recs, found, err := w.Store.LoadEventBatch(ctx, id)
	if errors.Is(err, events.ErrCorrupt) {
		w.Logger.ErrorContext(ctx, "event batch cannot be decoded", "batch_id", id, "job_id", job.ID,
			"attempt", job.Attempt, "max_attempts", job.MaxAttempts, "discarded", job.Attempt >= job.MaxAttempts, "err", err)
		return err
	}
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if err := w.Batcher.Add(ctx, recs...); err != nil {
		return fmt.Errorf("insert event batch %d: %w", id, err)
	}
	if err := w.observeUnknown(ctx, recs); err != nil {
		return fmt.Errorf("observe distinct ids of event batch %d: %w", id, err)
	}
	err = w.Store.FinishEventBatch(ctx, id, func(ctx context.Context, tx pgx.Tx) error {
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish event batch %d: %w", id, err)
	}
	return nil
}

func (w *EventBatchWorker) observeUnknown(ctx context.Context, recs []events.Record) error {
	subs := subjectsOf(recs)
	if w.Subjects == nil {
		_, err := w.observe(ctx, subs)
		return err
	}
	return w.Subjects.Observe(ctx, subs, w.observe)
}

// observe gives each of subs that has no profile an anonymous one, and returns those of subs
// that have a profile now: all but the ids identity refused.
func (w *EventBatchWorker) observe(ctx context.Context, subs []events.Subject) ([]events.Subject, error) {
	unknown, err := w.Store.UnknownSubjects(ctx, subs)
	if err != nil || len(unknown) == 0 {
		return subs, err
	}
	byProject := map[string][]string{}
	for _, sub := range unknown {
		byProject[sub.ProjectID] = append(byProject[sub.ProjectID], sub.DistinctID)
	}
	var (
		mu      sync.Mutex
		refused = map[events.Subject]bool{}
	)
	g, gctx := errgroup.WithContext(ctx)
	limit := w.ObserveConcurrency
	if limit <= 0 {
		limit = 4
	}
	g.SetLimit(limit)
	for project, ids := range byProject {
		for chunk := range slices.Chunk(ids, identity.MaxObserveIDs) {
			if gctx.Err() != nil {
				return nil, g.Wait() // a chunk failed: the job retries, and the rest with it
			}
			g.Go(func() error {
				ref, err := w.Observer.ObserveAll(gctx, project, chunk)
				if len(ref) > 0 {
					// Validated when tracked, so only a rule that changed since can refuse one.
					// The events are stored; such an id stays without a profile until an
					// Identify names it.
					w.Logger.WarnContext(ctx, "distinct ids of tracked events refused by identity", "project_id", project,
						"refused", len(ref), "first", ref[0])
					mu.Lock()
					for _, id := range ref {
						refused[events.Subject{ProjectID: project, DistinctID: id}] = true
					}
					mu.Unlock()
				}
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(refused) == 0 {
		return subs, nil
	}
	return slices.DeleteFunc(slices.Clone(subs), func(s events.Subject) bool { return refused[s] }), nil
}

// subjectsOf returns the (project, distinct id) of recs, each once, in order of appearance.
func subjectsOf(recs []events.Record) []events.Subject {
	seen := make(map[events.Subject]bool, len(recs))
	out := make([]events.Subject, 0, len(recs))
	for _, r := range recs {
		sub := events.Subject{ProjectID: r.ProjectID, DistinctID: r.DistinctID}
		if !seen[sub] {
			seen[sub] = true
			out = append(out, sub)
		}
	}
	return out
}

// EventSink writes many events at once: one ClickHouse insert. clickhouse.EventSink
// implements it.
type EventSink interface {
	// WriteEvents stores recs, all or none. Writing records again must be harmless (reads
	// collapse copies by message id): a failed write fails every job it carried, and each
	// retries.
	WriteEvents(ctx context.Context, recs []events.Record) error
}

// EventBatcherConfig tunes the events' Batcher. Zero fields take the defaults in brackets.
type EventBatcherConfig struct {
	MaxRows  int           // [100,000]
	MaxBytes int           // bytes of properties, the bulk of a row [64 MiB]
	MaxDelay time.Duration // [200 ms]: part of the Track -> eventCount lag
	// MaxWaiting is how many event batch jobs may run at once (BatcherConfig.MaxWaiting).
	MaxWaiting int
	// WriteTimeout bounds one insert [30 s]; it must stay below the worker's Timeout.
	WriteTimeout time.Duration
}

// ErrEventBatcherStopped is returned by Add once the events' Batcher has stopped.
var ErrEventBatcherStopped = ErrBatcherStopped

// NewEventBatcher returns the events' Batcher; Start it before the River client, Stop it after.
func NewEventBatcher(sink EventSink, cfg EventBatcherConfig, logger *slog.Logger) *Batcher[events.Record] {
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = 100_000
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 200 * time.Millisecond
	}
	size := func(r events.Record) int { return len(r.Properties) }
	return newBatcher("events", sink.WriteEvents, size, BatcherConfig{
		MaxItems: cfg.MaxRows, MaxBytes: cfg.MaxBytes, MaxDelay: cfg.MaxDelay, MaxWaiting: cfg.MaxWaiting, WriteTimeout: cfg.WriteTimeout,
	}, logger)
}
