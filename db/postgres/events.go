package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/events"
)

// BatchPublisher enqueues the job that carries an event batch to ClickHouse, inside the
// transaction that writes the batch (River's InsertTx): the job exists if and only if the
// batch commits. jobs.EventPublisher implements it.
type BatchPublisher interface {
	PublishBatchTx(ctx context.Context, tx pgx.Tx, batchID int64) error
}

// EventCommitterConfig tunes an EventCommitter. Zero fields take the defaults in brackets.
type EventCommitterConfig struct {
	// MaxDelay is how long the first request of a group waits for others to join it [2 ms].
	MaxDelay time.Duration
	// MaxEvents and MaxBytes close a group early: once this many events, or payload bytes, wait
	// [5,000 events, 8 MiB]. A single request larger than either is committed alone, never split.
	MaxEvents int
	MaxBytes  int
	// MaxInFlight is how many group commits may run at once [3], so one slow commit does not
	// stall intake. Each holds a pool connection while it runs.
	MaxInFlight int
	// CommitTimeout bounds one commit; past it every request of the group gets ErrUnavailable
	// [10 s].
	CommitTimeout time.Duration
}

func (c EventCommitterConfig) withDefaults() EventCommitterConfig {
	if c.MaxDelay <= 0 {
		c.MaxDelay = 2 * time.Millisecond
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 5000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 8 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 3
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 10 * time.Second
	}
	return c
}

// EventCommitter is the durable half of event ingestion (events.Ingester): a group committer.
// Concurrent Append calls are collected for at most MaxDelay (or until MaxEvents/MaxBytes
// wait); then ONE transaction writes all their events as one event_batches row and one River
// job, commits, and answers every Append of the group with the commit's outcome.
//
// Memory is bounded by backpressure, not by refusal: while MaxInFlight commits run and the
// next group is full, the owner stops taking requests and Append blocks (until its context
// ends). At most (MaxInFlight+1) groups are held, plus what blocked callers hold themselves,
// which the transport bounds (request size and concurrency). A slow Postgres therefore slows
// Track down instead of growing the heap; a failing one answers unavailable within
// CommitTimeout.
//
// Start it before serving and Stop it after the HTTP server has drained: Stop commits what is
// waiting and returns once every commit has finished.
type EventCommitter struct {
	pool      *pgxpool.Pool
	publisher BatchPublisher
	cfg       EventCommitterConfig
	logger    *slog.Logger

	in        chan *appendRequest
	stop      chan struct{}
	done      chan struct{}
	startOnce sync.Once
	stopOnce  sync.Once
}

var _ events.Ingester = (*EventCommitter)(nil)

// ErrCommitterStopped is returned (wrapped in events.ErrUnavailable) by Append after Stop.
var ErrCommitterStopped = errors.New("event committer stopped")

type appendRequest struct {
	payload []byte // in payloadFormat, encoded by the caller's goroutine
	events  int
	result  chan error // buffered: the commit never waits for the caller
}

// NewEventCommitter returns a committer writing to pool and enqueueing through publisher.
func NewEventCommitter(pool *pgxpool.Pool, publisher BatchPublisher, cfg EventCommitterConfig, logger *slog.Logger) *EventCommitter {
	return &EventCommitter{
		pool: pool, publisher: publisher, cfg: cfg.withDefaults(), logger: logger,
		// Unbuffered: a request is either taken by the owner (and then committed, even during
		// Stop) or refused; none can be left in a buffer when the owner exits.
		in:   make(chan *appendRequest),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// Start runs the owner goroutine until Stop.
func (c *EventCommitter) Start() {
	c.startOnce.Do(func() { go c.run() })
}

// Stop refuses new Appends, commits the groups already taken, and waits for every commit.
func (c *EventCommitter) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.startOnce.Do(func() { close(c.done) }) // never started: nothing to wait for
	<-c.done
}

// Append implements events.Ingester. The events are encoded here, on the caller's goroutine,
// so the owner only concatenates bytes.
func (c *EventCommitter) Append(ctx context.Context, es []events.Event) error {
	if len(es) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := EncodePayload(&buf, es); err != nil {
		return fmt.Errorf("encode %d events: %w", len(es), err)
	}
	req := &appendRequest{payload: buf.Bytes(), events: len(es), result: make(chan error, 1)}
	select {
	case c.in <- req:
	case <-c.stop:
		return fmt.Errorf("%w: %w", events.ErrUnavailable, ErrCommitterStopped)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.result:
		return err
	case <-ctx.Done():
		return ctx.Err() // the group may still commit: see events.Ingester
	}
}

// run is the owner: it forms groups and launches their commits, at most MaxInFlight at once.
// Every commit goroutine is counted in inFlight and run returns only once all have finished.
func (c *EventCommitter) run() {
	defer close(c.done)
	var (
		group    []*appendRequest
		nEvents  int
		nBytes   int
		expired  bool // the group's MaxDelay has passed
		stopping bool
		inFlight int
		finished = make(chan struct{}, c.cfg.MaxInFlight)
		timer    = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	for {
		full := nEvents >= c.cfg.MaxEvents || nBytes >= c.cfg.MaxBytes
		if len(group) > 0 && (full || expired || stopping) && inFlight < c.cfg.MaxInFlight {
			inFlight++
			go func(g []*appendRequest, n, size int) {
				c.commit(g, n, size)
				finished <- struct{}{}
			}(group, nEvents, nBytes)
			group, nEvents, nBytes, expired, full = nil, 0, 0, false, false
			timer.Stop()
		}
		if stopping && len(group) == 0 && inFlight == 0 {
			return
		}
		// A full group waits for a commit slot and takes nothing more: backpressure. While the
		// slots are busy, a group that is not full keeps growing past its MaxDelay.
		intake, stopC := c.in, c.stop
		if full || stopping {
			intake = nil
		}
		if stopping {
			stopC = nil
		}
		select {
		case r := <-intake:
			if len(group) == 0 {
				timer.Reset(c.cfg.MaxDelay)
			}
			group = append(group, r)
			nEvents += r.events
			nBytes += len(r.payload)
		case <-timer.C:
			expired = true
		case <-finished:
			inFlight--
		case <-stopC:
			stopping = true
		}
	}
}

// commit writes one group and answers each of its requests.
func (c *EventCommitter) commit(group []*appendRequest, n, size int) {
	payload := make([]byte, 0, size)
	for _, r := range group {
		payload = append(payload, r.payload...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CommitTimeout)
	defer cancel()
	id, err := c.insertBatch(ctx, payload, n)
	if err != nil {
		err = fmt.Errorf("%w: commit %d events of %d requests: %w", events.ErrUnavailable, n, len(group), err)
		c.logger.Error("event batch commit failed", "events", n, "requests", len(group), "bytes", size, "err", err)
	} else {
		c.logger.Debug("event batch committed", "batch_id", id, "events", n, "requests", len(group), "bytes", size)
	}
	for _, r := range group {
		r.result <- err
	}
}

const sqlInsertEventBatch = `INSERT INTO event_batches (format, events, payload) VALUES ($1, $2, $3) RETURNING id`

func (c *EventCommitter) insertBatch(ctx context.Context, payload []byte, n int) (int64, error) {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	var id int64
	if err := tx.QueryRow(ctx, sqlInsertEventBatch, payloadFormat, n, payload).Scan(&id); err != nil {
		return 0, fmt.Errorf("insert event batch: %w", err)
	}
	if err := c.publisher.PublishBatchTx(ctx, tx, id); err != nil {
		return 0, fmt.Errorf("enqueue event batch %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit event batch %d: %w", id, err)
	}
	return id, nil
}

// EventBatchStore is the worker's side of event_batches: it loads a batch, looks up distinct
// ids without a profile, and deletes a batch in the transaction that completes its job. It
// implements jobs.EventBatchStore.
type EventBatchStore struct {
	pool *pgxpool.Pool
}

// NewEventBatchStore returns the store over pool.
func NewEventBatchStore(pool *pgxpool.Pool) *EventBatchStore {
	return &EventBatchStore{pool: pool}
}

const (
	sqlLoadEventBatch   = `SELECT format, events, payload FROM event_batches WHERE id = $1`
	sqlDeleteEventBatch = `DELETE FROM event_batches WHERE id = $1`
	sqlUnknownSubjects  = `
SELECT q.project_id, q.distinct_id
FROM unnest($1::text[], $2::text[]) AS q (project_id, distinct_id)
WHERE NOT EXISTS (
    SELECT 1 FROM distinct_ids d WHERE d.project_id = q.project_id AND d.distinct_id = q.distinct_id)`
)

// LoadEventBatch returns the events of batch id. found is false when the batch does not exist:
// an earlier run of its job finished it. A payload that cannot be decoded returns an error
// wrapping events.ErrCorrupt, and so does one holding another number of events than its row
// says: a row that decoded short would otherwise be finished, and deleted, with events lost.
func (s *EventBatchStore) LoadEventBatch(ctx context.Context, id int64) (recs []events.Record, found bool, err error) {
	var (
		format  int16
		count   int
		payload []byte
	)
	err = s.pool.QueryRow(ctx, sqlLoadEventBatch, id).Scan(&format, &count, &payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load event batch %d: %w", id, err)
	}
	recs, err = DecodePayload(format, payload)
	if err != nil {
		return nil, true, fmt.Errorf("event batch %d: %w", id, err)
	}
	if len(recs) != count {
		return nil, true, fmt.Errorf("%w: event batch %d holds %d events, its row says %d", events.ErrCorrupt, id, len(recs), count)
	}
	return recs, true, nil
}

// FinishEventBatch deletes batch id and calls complete (which completes the job with
// river.JobCompleteTx) in one transaction, so the batch is gone if and only if its job is
// completed. Deleting a batch that is already gone is not an error.
func (s *EventBatchStore) FinishEventBatch(ctx context.Context, id int64, complete func(context.Context, pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("finish event batch %d: begin: %w", id, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, sqlDeleteEventBatch, id); err != nil {
		return fmt.Errorf("delete event batch %d: %w", id, err)
	}
	if err := complete(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("finish event batch %d: commit: %w", id, err)
	}
	return nil
}

// UnknownSubjects returns those of subjects (each once) whose distinct id is mapped to no
// profile, in one query. An id of a deleted profile is known: its events must not revive it.
func (s *EventBatchStore) UnknownSubjects(ctx context.Context, subjects []events.Subject) ([]events.Subject, error) {
	projects := make([]string, 0, len(subjects))
	ids := make([]string, 0, len(subjects))
	seen := make(map[events.Subject]bool, len(subjects))
	for _, sub := range subjects {
		if !seen[sub] {
			seen[sub] = true
			projects = append(projects, sub.ProjectID)
			ids = append(ids, sub.DistinctID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, sqlUnknownSubjects, projects, ids)
	if err != nil {
		return nil, fmt.Errorf("look up %d distinct ids: %w", len(ids), err)
	}
	unknown, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (events.Subject, error) {
		var sub events.Subject
		err := row.Scan(&sub.ProjectID, &sub.DistinctID)
		return sub, err
	})
	if err != nil {
		return nil, fmt.Errorf("look up %d distinct ids: %w", len(ids), err)
	}
	return unknown, nil
}
