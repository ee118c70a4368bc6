package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/poluruprvn/profiles/identity"
)

// ChangeSink writes many changes at once, e.g. one ClickHouse insert per table.
type ChangeSink interface {
	WriteChanges(ctx context.Context, changes []identity.Change) error
}

// Batcher groups changes from concurrent workers into one sink write, flushing when MaxChanges
// are waiting or MaxDelay has passed since the first. Each Add returns the error of the write
// that carried its change.
type Batcher struct {
	sink       ChangeSink
	maxChanges int
	maxDelay   time.Duration
	logger     *slog.Logger

	in   chan pending
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type pending struct {
	changes []identity.Change
	result  chan error
}

// ErrBatcherStopped is returned by Add once the batcher has stopped.
var ErrBatcherStopped = errors.New("projection batcher stopped")

// NewBatcher returns a Batcher; Start it before use and Stop it after the River client.
func NewBatcher(sink ChangeSink, maxChanges int, maxDelay time.Duration, logger *slog.Logger) *Batcher {
	return &Batcher{
		sink: sink, maxChanges: maxChanges, maxDelay: maxDelay, logger: logger,
		in: make(chan pending, maxChanges), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// Add queues changes and waits until they are written or ctx ends.
func (b *Batcher) Add(ctx context.Context, changes ...identity.Change) error {
	p := pending{changes: changes, result: make(chan error, 1)}
	select {
	case b.in <- p:
	case <-b.stop:
		return ErrBatcherStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start runs the flush loop until Stop.
func (b *Batcher) Start() { go b.loop() }

// Stop ends the loop after flushing what is queued, and waits for it.
func (b *Batcher) Stop() {
	b.once.Do(func() { close(b.stop) })
	<-b.done
}

func (b *Batcher) loop() {
	defer close(b.done)
	batch := make([]pending, 0, b.maxChanges)
	for {
		select {
		case p := <-b.in:
			batch = append(batch[:0], p)
		case <-b.stop:
			b.drain(batch[:0])
			return
		}
		timer := time.NewTimer(b.maxDelay)
	collect:
		for len(batch) < b.maxChanges {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			case <-timer.C:
				break collect
			case <-b.stop:
				break collect
			}
		}
		timer.Stop()
		b.flush(batch)
	}
}

func (b *Batcher) drain(batch []pending) {
	for {
		select {
		case p := <-b.in:
			batch = append(batch, p)
		default:
			if len(batch) > 0 {
				b.flush(batch)
			}
			return
		}
	}
}

func (b *Batcher) flush(batch []pending) {
	var changes []identity.Change
	for _, p := range batch {
		changes = append(changes, p.changes...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	err := b.sink.WriteChanges(ctx, changes)
	cancel()
	if err != nil {
		b.logger.Error("projection write failed", "changes", len(changes), "err", err)
	}
	for _, p := range batch {
		p.result <- err
	}
}
