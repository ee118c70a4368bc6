package main

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/jobs"
	"github.com/poluruprvn/profiles/profiles"
)

// Projection batching: changes wait at most projectionDelay for company, so ClickHouse sees
// about one insert a second per table at any load (18.16 refuses inserts past 300 parts). Every
// insert is a part that background merges rewrite: at ten a second, merging them took a quarter
// of the machine (ClickHouse 27% CPU under 1,700 Identify/s, 2% at one a second, and Identify
// 1,700 -> 2,300/s). The API reads identity from Postgres, so this delay is only the freshness
// of the ClickHouse read model.
const (
	projectionBatch = 10_000
	projectionDelay = time.Second
)

// knownSubjects is how many distinct ids the event worker remembers as having a profile
// (jobs.Subjects): 8 bytes each, 2 MiB. Enough for the visitors of the last minutes of a busy
// site; one it forgot costs a Postgres lookup, as every id did before.
const knownSubjects = 1 << 18

// domain is the services of one process and the adapters they write through. The publishers
// get their River client after it is made (bindRiver): the client needs the workers, which
// need the identity service, which needs a publisher.
type domain struct {
	changes  *jobs.Publisher
	batches  *jobs.EventPublisher
	store    *postgres.IdentityStore
	identity *identity.Service
}

func newDomain(b *backends) *domain {
	changes := &jobs.Publisher{}
	store := postgres.NewIdentityStore(b.pool, changes)
	return &domain{changes: changes, batches: &jobs.EventPublisher{}, store: store, identity: identity.NewService(store)}
}

func (d *domain) bindRiver(client *river.Client[pgx.Tx]) {
	d.changes.Client = client
	d.batches.Client = client
}

// profiles is ProfilesService's domain; figures (nil: none) caches its event figures.
func (d *domain) profiles(b *backends, figures *profiles.FigureCache) *profiles.Service {
	var events profiles.Events = clickhouse.NewEventReader(b.ch)
	if figures != nil {
		events = figures.Wrap(events)
	}
	return profiles.NewService(postgres.NewProfileReader(b.pool), events, d.identity)
}

// registerWorkers adds the binary's River workers to w. It returns a function to call once
// River has stopped, for the batchers the workers share.
func registerWorkers(w *river.Workers, cfg Config, b *backends, d *domain, logger *slog.Logger) (after func()) {
	projection := jobs.NewBatcher(postgres.NewSnapshotReader(b.pool), clickhouse.ChangeSink{Conn: b.ch}, projectionBatch, projectionDelay, cfg.Workers, logger)
	// Every process that stores events announces them, whether or not it caches figures itself:
	// serving processes elsewhere may.
	eventSink := jobs.AnnouncingSink{EventSink: clickhouse.EventSink{Conn: b.ch}, Announcer: postgres.NewFigureFeed(b.pool)}
	eventRows := jobs.NewEventBatcher(eventSink, jobs.EventBatcherConfig{MaxWaiting: eventWorkers}, logger)
	projection.Start()
	eventRows.Start()
	queues := &jobs.AnalyzeWorker{Stats: postgres.NewQueueStats(b.pool), Logger: logger}
	jobs.Register(w, projection, d.store, queues, &jobs.EventBatchWorker{
		Store:    postgres.NewEventBatchStore(b.pool),
		Batcher:  eventRows,
		Observer: jobs.IdentityObserver{Service: d.identity},
		Logger:   logger,
		Subjects: jobs.NewSubjects(knownSubjects),
	})
	return func() { projection.Stop(); eventRows.Stop() }
}
