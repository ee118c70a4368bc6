package postgres

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/poluruprvn/profiles/events"
	"github.com/poluruprvn/profiles/profiles"
)

// The event-figure feed: the event worker announces, with NOTIFY, which distinct ids have new
// events in ClickHouse, and every serving process LISTENs and drops the figures it cached for
// them (profiles.FigureCache says why that keeps reads exact). NOTIFY reaches every session
// listening when it is sent, in order; a session that was not listening learns nothing, which
// is why a listener's cache is live only while its LISTEN is.
//
// A payload is the base64 of big-endian 32-bit profiles.SubjectHash values, at most
// figureHashesPerNotify of them (NOTIFY payloads end at 8,000 bytes).
const (
	figureChannel         = "profiles_event_figures"
	figureHashesPerNotify = 1400
)

// FigureFeed announces stored events. It implements jobs.EventAnnouncer.
type FigureFeed struct {
	pool *pgxpool.Pool
}

// NewFigureFeed returns a FigureFeed sending through pool.
func NewFigureFeed(pool *pgxpool.Pool) *FigureFeed { return &FigureFeed{pool: pool} }

// EventsStored implements jobs.EventAnnouncer: one round trip, one NOTIFY per
// figureHashesPerNotify subjects.
func (f *FigureFeed) EventsStored(ctx context.Context, subjects []events.Subject) error {
	if len(subjects) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for start := 0; start < len(subjects); start += figureHashesPerNotify {
		chunk := subjects[start:min(start+figureHashesPerNotify, len(subjects))]
		raw := make([]byte, 4*len(chunk))
		for i, s := range chunk {
			binary.BigEndian.PutUint32(raw[4*i:], profiles.SubjectHash(s.ProjectID, s.DistinctID))
		}
		b.Queue(`SELECT pg_notify($1, $2)`, figureChannel, base64.StdEncoding.EncodeToString(raw))
	}
	if err := f.pool.SendBatch(ctx, b).Close(); err != nil {
		return unavailable(ctx, fmt.Errorf("notify %d stored subjects: %w", len(subjects), err))
	}
	return nil
}

// decodeFigureHashes reads one payload.
func decodeFigureHashes(payload string) ([]uint32, error) {
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil || len(raw)%4 != 0 {
		return nil, fmt.Errorf("figure feed: payload of %d bytes is not a list of hashes", len(payload))
	}
	out := make([]uint32, len(raw)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(raw[4*i:])
	}
	return out, nil
}

// FigureListener keeps a profiles.FigureCache live: it LISTENs on a connection of its own (a
// pooled one would lose the LISTEN to the next user), hands every announcement to the cache, and
// turns the cache off whenever the connection is gone, reconnecting with backoff.
type FigureListener struct {
	config *pgx.ConnConfig
	cache  *profiles.FigureCache
	logger *slog.Logger

	start, stopOnce sync.Once
	cancel          context.CancelFunc
	done            chan struct{}
}

// NewFigureListener returns a listener connecting like pool does. Start it, Stop it.
func NewFigureListener(pool *pgxpool.Pool, cache *profiles.FigureCache, logger *slog.Logger) *FigureListener {
	return &FigureListener{config: pool.Config().ConnConfig.Copy(), cache: cache, logger: logger, done: make(chan struct{})}
}

// Start runs the listener until Stop.
func (l *FigureListener) Start() {
	l.start.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		go l.run(ctx)
	})
}

// Stop ends the listener and waits for it. The cache is off afterwards.
func (l *FigureListener) Stop() {
	l.start.Do(func() { close(l.done) })
	l.stopOnce.Do(func() {
		if l.cancel != nil {
			l.cancel()
		}
	})
	<-l.done
}

// Listener backoff after a lost connection.
const (
	figureRetryMin = 100 * time.Millisecond
	figureRetryMax = 5 * time.Second
)

func (l *FigureListener) run(ctx context.Context) {
	defer close(l.done)
	defer l.cache.SetLive(false)
	wait := figureRetryMin
	for {
		began := time.Now()
		err := l.listen(ctx)
		l.cache.SetLive(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > figureRetryMax {
			wait = figureRetryMin // it had been up a while: a fresh failure
		}
		l.logger.Warn("event figure feed lost; figures are read from ClickHouse until it is back", "retry_in", wait.String(), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, figureRetryMax)
	}
}

// listen serves one connection until it fails or ctx ends.
func (l *FigureListener) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.config)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+figureChannel); err != nil {
		return err
	}
	l.cache.SetLive(true) // from an empty cache: what was announced before is not in it
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		hashes, err := decodeFigureHashes(n.Payload)
		if err != nil {
			// Not ours to read: assume the worst of it.
			l.logger.Warn("event figure feed: unreadable announcement; cache emptied", "err", err)
			l.cache.SetLive(true)
			continue
		}
		l.cache.Invalidate(hashes)
	}
}
