package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/poluruprvn/profiles/identity"
)

// Batcher groups what concurrent workers hand it into one write, flushing when MaxItems items
// or MaxBytes bytes wait, or MaxDelay after the first. Each Add returns the error of the write
// that carried its items; the items of one Add are never split. ClickHouse wants few large
// inserts (every insert is a part; 18.16 refuses inserts at 300 parts per partition), so many
// jobs share each insert, and a job completes only once its insert succeeded.
type Batcher[T any] struct {
	write    func(context.Context, []T) error
	size     func(T) int
	cfg      BatcherConfig
	name     string
	logger   *slog.Logger
	in       chan pending[T]
	stop     chan struct{}
	done     chan struct{}
	start    sync.Once
	stopOnce sync.Once
}

// BatcherConfig tunes a Batcher. Zero fields take the defaults in brackets.
type BatcherConfig struct {
	MaxItems int           // [10,000]
	MaxBytes int           // as the batcher's size function counts them [64 MiB]
	MaxDelay time.Duration // [100 ms]: part of the write -> readable lag
	// MaxWaiting flushes once this many Adds wait [0: no such limit]. Set it to the number of
	// workers that feed the batcher: once they all wait, nothing more can come, and waiting out
	// MaxDelay would only cap throughput at MaxWaiting jobs per MaxDelay.
	MaxWaiting int
	// WriteTimeout bounds one write [30 s]; it must stay below the workers' Timeout.
	WriteTimeout time.Duration
}

type pending[T any] struct {
	items  []T
	bytes  int
	result chan error
}

// ErrBatcherStopped is returned by Add once the batcher has stopped.
var ErrBatcherStopped = errors.New("batcher stopped")

func newBatcher[T any](name string, write func(context.Context, []T) error, size func(T) int, cfg BatcherConfig, logger *slog.Logger) *Batcher[T] {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 10_000
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 100 * time.Millisecond
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	return &Batcher[T]{
		write: write, size: size, cfg: cfg, name: name, logger: logger,
		in: make(chan pending[T]), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// SnapshotReader reads the current state of the profiles that changes name, e.g. from Postgres.
type SnapshotReader interface {
	Snapshots(ctx context.Context, changes []identity.Change) ([]identity.Snapshot, error)
}

// ChangeSink writes a batch of identity changes at once, with the current state of the profiles
// they touched: e.g. one ClickHouse insert per table.
type ChangeSink interface {
	WriteChanges(ctx context.Context, changes []identity.Change, profiles []identity.Snapshot) error
}

// NewBatcher returns the projection's Batcher; Start it before the River client, Stop it after.
// Each batch reads its profiles once from reader and writes them to sink with its mappings.
// workers is how many projection jobs may run at once (BatcherConfig.MaxWaiting).
func NewBatcher(reader SnapshotReader, sink ChangeSink, maxChanges int, maxDelay time.Duration, workers int, logger *slog.Logger) *Batcher[identity.Change] {
	size := func(c identity.Change) int { return 1 }
	write := func(ctx context.Context, changes []identity.Change) error {
		profiles, err := reader.Snapshots(ctx, changes)
		if err != nil {
			return err
		}
		return sink.WriteChanges(ctx, changes, profiles)
	}
	return newBatcher("projection", write, size,
		BatcherConfig{MaxItems: maxChanges, MaxBytes: maxChanges, MaxDelay: maxDelay, MaxWaiting: workers}, logger)
}

// Add queues items and waits until they are written or ctx ends.
func (b *Batcher[T]) Add(ctx context.Context, items ...T) error {
	if len(items) == 0 {
		return nil
	}
	p := pending[T]{items: items, result: make(chan error, 1)}
	for _, it := range items {
		p.bytes += b.size(it)
	}
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
func (b *Batcher[T]) Start() { b.start.Do(func() { go b.loop() }) }

// Stop writes what was taken and waits for the loop to end. Adds after Stop fail.
func (b *Batcher[T]) Stop() {
	b.stopOnce.Do(func() { close(b.stop) })
	b.start.Do(func() { close(b.done) })
	<-b.done
}

func (b *Batcher[T]) loop() {
	defer close(b.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var (
			batch        []pending[T]
			items, bytes int
		)
		select {
		case p := <-b.in:
			batch, items, bytes = append(batch, p), len(p.items), p.bytes
		case <-b.stop:
			return
		}
		timer.Reset(b.cfg.MaxDelay)
	collect:
		for items < b.cfg.MaxItems && bytes < b.cfg.MaxBytes && (b.cfg.MaxWaiting <= 0 || len(batch) < b.cfg.MaxWaiting) {
			select {
			case p := <-b.in:
				batch, items, bytes = append(batch, p), items+len(p.items), bytes+p.bytes
			case <-timer.C:
				break collect
			case <-b.stop:
				break collect
			}
		}
		timer.Stop()
		b.flush(batch, items)
	}
}

func (b *Batcher[T]) flush(batch []pending[T], n int) {
	all := make([]T, 0, n)
	for _, p := range batch {
		all = append(all, p.items...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.WriteTimeout)
	start := time.Now()
	err := b.write(ctx, all)
	cancel()
	if err != nil {
		b.logger.Error(b.name+" write failed", "items", len(all), "jobs", len(batch), "err", err)
	} else {
		b.logger.Debug(b.name+" written", "items", len(all), "jobs", len(batch), "took", time.Since(start))
	}
	for _, p := range batch {
		p.result <- err
	}
}
