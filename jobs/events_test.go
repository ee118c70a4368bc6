package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"go.uber.org/goleak"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/events"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/jobs"
)

// fastRetry retries failed jobs after 10 ms instead of River's seconds, so tests of retries
// and discards take milliseconds.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(10 * time.Millisecond) }

// faultyStore wraps the real store and fails FinishEventBatch while failFinish is positive:
// a worker that dies after its ClickHouse insert and before completing its job. It counts the
// ids the worker asks UnknownSubjects about.
type faultyStore struct {
	*postgres.EventBatchStore
	failFinish atomic.Int32
	asked      atomic.Int64
}

func (s *faultyStore) UnknownSubjects(ctx context.Context, subs []events.Subject) ([]events.Subject, error) {
	s.asked.Add(int64(len(subs)))
	return s.EventBatchStore.UnknownSubjects(ctx, subs)
}

func (s *faultyStore) FinishEventBatch(ctx context.Context, id int64, complete func(context.Context, pgx.Tx) error) error {
	if s.failFinish.Add(-1) >= 0 {
		return errors.New("connection lost before completing")
	}
	return s.EventBatchStore.FinishEventBatch(ctx, id, complete)
}

type pipeline struct {
	pool      *pgxpool.Pool
	conn      driver.Conn
	client    *river.Client[pgx.Tx]
	committer *postgres.EventCommitter
	service   *events.Service
	identity  *identity.Service
	store     *faultyStore
}

// setupPipeline wires ingestion the way cmd does: committer -> event_batches + River job ->
// EventBatchWorker -> EventBatcher -> ClickHouse, with identity's ObserveAll for unknown ids,
// all on a fresh Postgres and ClickHouse database.
func setupPipeline(t testing.TB) *pipeline {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := &pipeline{pool: pgtest.New(t), conn: chtest.New(t)}
	p.store = &faultyStore{EventBatchStore: postgres.NewEventBatchStore(p.pool)}

	// The worker process's wiring (cmd): identity needs the River client to publish its
	// projections, the client needs the workers, the event worker needs identity. A publisher
	// whose client is filled in after NewClient breaks the cycle.
	publisher := &jobs.Publisher{}
	identityStore := postgres.NewIdentityStore(p.pool, publisher)
	p.identity = identity.NewService(identityStore)
	eventBatcher := jobs.NewEventBatcher(clickhouse.EventSink{Conn: p.conn}, jobs.EventBatcherConfig{MaxDelay: 20 * time.Millisecond}, logger)
	projectionBatcher := jobs.NewBatcher(postgres.NewSnapshotReader(p.pool), clickhouse.ChangeSink{Conn: p.conn}, 1000, 20*time.Millisecond, 0, logger)
	workers := river.NewWorkers()
	jobs.Register(workers, projectionBatcher, identityStore, &jobs.AnalyzeWorker{Stats: postgres.NewQueueStats(p.pool), Logger: logger}, &jobs.EventBatchWorker{
		Store: p.store, Batcher: eventBatcher, Observer: jobs.IdentityObserver{Service: p.identity}, Logger: logger,
		Subjects: jobs.NewSubjects(1 << 10),
	})
	client, err := river.NewClient(riverpgxv5.New(p.pool), &river.Config{
		Queues: map[string]river.QueueConfig{
			jobs.QueueEvents:     {MaxWorkers: 50},
			jobs.QueueProjection: {MaxWorkers: 50},
		},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		RetryPolicy:       fastRetry{},
		Logger:            logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.client = client
	publisher.Client = client
	p.committer = postgres.NewEventCommitter(p.pool, jobs.EventPublisher{Client: client}, postgres.EventCommitterConfig{}, logger)
	p.service = events.NewService(p.committer)

	// Start in dependency order; t.Cleanup stops in reverse: intake, then River, then the batchers.
	eventBatcher.Start()
	t.Cleanup(eventBatcher.Stop)
	projectionBatcher.Start()
	t.Cleanup(projectionBatcher.Stop)
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("stop river: %v", err)
		}
	})
	p.committer.Start()
	t.Cleanup(p.committer.Stop)
	return p
}

// jobStates counts event_batch jobs by state.
func (p *pipeline) jobStates(t testing.TB) map[string]int {
	t.Helper()
	rows, err := p.pool.Query(context.Background(), `SELECT state::text, count(*) FROM river_job WHERE kind = 'event_batch' GROUP BY state`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var (
		state string
		n     int
	)
	if _, err := pgx.ForEachRow(rows, []any{&state, &n}, func() error { out[state] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitJobs polls until there are event_batch jobs and every one is completed or discarded.
func (p *pipeline) waitJobs(t testing.TB) map[string]int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		states := p.jobStates(t)
		final := states["completed"] + states["discarded"]
		total := 0
		for _, n := range states {
			total += n
		}
		if total > 0 && final == total {
			return states
		}
		if time.Now().After(deadline) {
			t.Fatalf("event_batch jobs not finished after 20 s: %v", states)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *pipeline) batchRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := p.pool.QueryRow(context.Background(), `SELECT count(*) FROM event_batches`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// reads is what the API can see of a set of distinct ids: stats and the whole history.
type reads struct {
	Stats   map[string]clickhouse.Stats
	History []string // message ids, newest first
}

func (p *pipeline) read(t *testing.T, project string, ids []string) reads {
	t.Helper()
	ctx := context.Background()
	groups := make([][]string, len(ids))
	for i, id := range ids {
		groups[i] = []string{id}
	}
	stats, err := clickhouse.EventStats(ctx, p.conn, project, groups)
	if err != nil {
		t.Fatal(err)
	}
	r := reads{Stats: map[string]clickhouse.Stats{}}
	for i, s := range stats {
		if s.Count > 0 {
			r.Stats[ids[i]] = s
		}
	}
	for cursor := (clickhouse.Cursor{}); ; {
		page, next, err := clickhouse.EventHistory(ctx, p.conn, project, ids, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range page {
			r.History = append(r.History, row.MessageID)
		}
		if next.IsZero() {
			return r
		}
		cursor = next
	}
}

func TestEventPipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := setupPipeline(t)

	// 200 concurrent requests from 50 visitors; every fourth request is sent twice (an SDK
	// retry with the same message ids), and some events carry no message id.
	const requests = 200
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		errs     []error
	)
	for i := range requests {
		anon := fmt.Sprintf("anon-%d", i%50)
		es := []events.Event{
			{Name: "Viewed", AnonymousID: anon, MessageID: fmt.Sprintf("m%d-a", i), Properties: map[string]any{"i": float64(i)}},
			{Name: "Clicked", AnonymousID: anon, MessageID: fmt.Sprintf("m%d-b", i)},
		}
		if i%10 == 0 {
			es = append(es, events.Event{Name: "No id", AnonymousID: anon})
		}
		sends := 1
		if i%4 == 0 {
			sends = 2
		}
		for range sends {
			wg.Go(func() {
				n, err := p.service.TrackBatch(ctx, "proj", es)
				mu.Lock()
				defer mu.Unlock()
				accepted += n
				if err != nil {
					errs = append(errs, err)
				}
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d TrackBatch calls failed, first: %v", len(errs), errs[0])
	}
	start := time.Now()
	states := p.waitJobs(t)
	t.Logf("%d events accepted in %d event_batch jobs; all in ClickHouse %v after the last ack", accepted, states["completed"], time.Since(start).Round(time.Millisecond))
	if states["completed"] > requests/5 || states["discarded"] > 0 {
		t.Errorf("jobs %v; want few completed jobs (many requests per batch) and none discarded", states)
	}
	if n := p.batchRows(t); n != 0 {
		t.Errorf("%d event_batches rows left; want every batch deleted once its job completed", n)
	}

	// 200 requests x 2 events with message ids: retries collapse. 20 requests carry an event
	// without one, and the 10 of those that were retried stored it twice: a new event each time.
	const unique = requests*2 + requests/10 + requests/20
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("anon-%d", i)
	}
	got := p.read(t, "proj", ids)
	var total uint64
	for _, s := range got.Stats {
		total += s.Count
	}
	if total != unique || len(got.History) != unique || len(got.Stats) != 50 {
		t.Errorf("ClickHouse counts %d events over %d ids and lists %d; want %d each over 50 ids", total, len(got.Stats), len(got.History), unique)
	}

	// Every visitor now has an anonymous profile; Identify finds it and identifies it.
	var profiles int
	err := p.pool.QueryRow(ctx, `SELECT count(DISTINCT d.profile_id) FROM distinct_ids d JOIN profiles p ON p.project_id = d.project_id AND p.id = d.profile_id
		WHERE d.project_id = 'proj' AND d.distinct_id = ANY($1) AND p.external_id IS NULL`, ids).Scan(&profiles)
	if err != nil || profiles != 50 {
		t.Fatalf("%d anonymous profiles for the 50 visitors (%v); want one each", profiles, err)
	}
	res, err := p.identity.Identify(ctx, "proj", identity.IdentifyRequest{ExternalID: "user-7", AnonymousID: "anon-7"})
	if err != nil || res.Outcome != identity.OutcomeLinked {
		t.Errorf("Identify of a tracked visitor = %+v, %v; want its anonymous profile linked to the user", res, err)
	}
}

// TestEventBatchObservesManyNewVisitors: a batch with more new visitors than one ObserveAll
// takes, over two projects, gives every one of them its own anonymous profile in its project.
func TestEventBatchObservesManyNewVisitors(t *testing.T) {
	t.Parallel()
	p := setupPipeline(t)
	ctx := context.Background()
	visitors := map[string]int{"proj": identity.MaxObserveIDs + 44, "other": 30}
	for project, n := range visitors {
		es := make([]events.Event, n)
		for i := range es {
			es[i] = events.Event{Name: "Viewed", AnonymousID: fmt.Sprintf("%s-visitor-%d", project, i), MessageID: fmt.Sprint(i)}
		}
		if _, err := p.service.TrackBatch(ctx, project, es); err != nil {
			t.Fatal(err)
		}
	}
	if states := p.waitJobs(t); states["completed"] == 0 || states["discarded"] > 0 {
		t.Fatalf("jobs %v; want every batch completed", states)
	}
	for project, n := range visitors {
		var ids, profiles int
		err := p.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT d.profile_id) FROM distinct_ids d
			JOIN profiles p ON p.project_id = d.project_id AND p.id = d.profile_id
			WHERE d.project_id = $1 AND d.distinct_id LIKE $1 || '-visitor-%' AND p.external_id IS NULL`, project).Scan(&ids, &profiles)
		if err != nil || ids != n || profiles != n {
			t.Errorf("%s: %d of %d visitors on %d anonymous profiles (%v); want one each", project, ids, n, profiles, err)
		}
	}
}

// TestEventBatchesShareNewVisitors sends the events of the same new visitors in many requests,
// each its own batch and job, which the worker runs side by side: each visitor gets one
// profile, and the worker asks Postgres about each id about once (jobs.Subjects), not once per
// job that carries it.
func TestEventBatchesShareNewVisitors(t *testing.T) {
	t.Parallel()
	p := setupPipeline(t)
	ctx := context.Background()
	const visitors, requests = 50, 40
	for r := range requests {
		es := make([]events.Event, visitors)
		for i := range es {
			es[i] = events.Event{Name: "Viewed", AnonymousID: fmt.Sprintf("visitor-%d", i), MessageID: fmt.Sprintf("m-%d-%d", r, i)}
		}
		if _, err := p.service.TrackBatch(ctx, "proj", es); err != nil {
			t.Fatal(err)
		}
	}
	if states := p.waitJobs(t); states["completed"] == 0 || states["discarded"] > 0 {
		t.Fatalf("jobs %v; want every batch completed", states)
	}
	var ids, profiles int
	err := p.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT profile_id) FROM distinct_ids
		WHERE project_id = 'proj' AND distinct_id LIKE 'visitor-%'`).Scan(&ids, &profiles)
	if err != nil || ids != visitors || profiles != visitors {
		t.Errorf("%d visitors on %d profiles (%v); want %d, one profile each", ids, profiles, err, visitors)
	}
	// Without the memory, each of the jobs asks about all the visitors again.
	if asked := p.store.asked.Load(); asked > 2*visitors {
		t.Errorf("the worker asked Postgres about %d ids for %d visitors in %d requests; want each about once", asked, visitors, requests)
	}
}

// TestEventBatchRunsTwice delivers one batch to two jobs at once, then a third after both
// finished, and makes the first finish fail after its insert (a crash before completion):
// reads are exactly those of one clean run.
func TestEventBatchRunsTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clean, twice := setupPipeline(t), setupPipeline(t)

	es := make([]events.Event, 30)
	for i := range es {
		es[i] = events.Event{Name: "Viewed", AnonymousID: fmt.Sprintf("anon-%d", i%3), MessageID: fmt.Sprintf("m%d", i),
			Timestamp: time.Now().Add(-time.Duration(i) * time.Minute)}
	}
	if _, err := clean.service.TrackBatch(ctx, "proj", es); err != nil {
		t.Fatal(err)
	}
	clean.waitJobs(t)

	// The same accepted events, committed once as a row with two jobs.
	accepted, err := events.AcceptBatch("proj", es, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	twice.store.failFinish.Store(1)
	duplicate := postgres.NewEventCommitter(twice.pool, publishTwice{jobs.EventPublisher{Client: twice.client}}, postgres.EventCommitterConfig{}, slog.Default())
	duplicate.Start()
	err = duplicate.Append(ctx, accepted)
	duplicate.Stop()
	if err != nil {
		t.Fatal(err)
	}
	states := twice.waitJobs(t)
	var batchID int64
	if err := twice.pool.QueryRow(ctx, `SELECT (args->>'batchId')::bigint FROM river_job WHERE kind = 'event_batch' LIMIT 1`).Scan(&batchID); err != nil {
		t.Fatal(err)
	}
	if _, err := twice.client.Insert(ctx, jobs.EventBatchArgs{BatchID: batchID}, nil); err != nil { // a late third run
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for states = twice.jobStates(t); states["completed"] != 3; states = twice.jobStates(t) {
		if time.Now().After(deadline) {
			t.Fatalf("jobs %v; want all three completed", states)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ids := []string{"anon-0", "anon-1", "anon-2"}
	want, got := clean.read(t, "proj", ids), twice.read(t, "proj", ids)
	if !slices.Equal(want.History, got.History) || fmt.Sprint(want.Stats) != fmt.Sprint(got.Stats) {
		t.Errorf("reads after duplicate runs differ from one clean run:\nclean %+v\ntwice %+v", want, got)
	}
	var raw uint64
	if err := twice.conn.QueryRow(ctx, `SELECT count() FROM events`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	// The failed finish came after an insert, and the batch stayed until a run that inserted
	// again finished it: at least two copies of everything are stored.
	if raw < 2*uint64(len(es)) {
		t.Errorf("%d raw rows for %d events; want at least two copies each (two runs inserted)", raw, len(es))
	}
	if n := twice.batchRows(t); n != 0 {
		t.Errorf("%d batch rows left; want the batch deleted", n)
	}
	t.Logf("%d events stored as %d raw rows, read as %d", len(es), raw, len(got.History))
}

// publishTwice enqueues two jobs for every batch: a duplicate delivery.
type publishTwice struct{ jobs.EventPublisher }

func (p publishTwice) PublishBatchTx(ctx context.Context, tx pgx.Tx, batchID int64) error {
	if err := p.EventPublisher.PublishBatchTx(ctx, tx, batchID); err != nil {
		return err
	}
	return p.EventPublisher.PublishBatchTx(ctx, tx, batchID)
}

// TestPoisonEventBatchIsDiscarded checks that an undecodable batch fails its attempts and ends
// discarded, its row kept for inspection, while batches behind it are worked.
func TestPoisonEventBatchIsDiscarded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := setupPipeline(t)

	tx, err := p.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var poisonID int64
	if err := tx.QueryRow(ctx, `INSERT INTO event_batches (format, events, payload) VALUES (1, 1, 'not json') RETURNING id`).Scan(&poisonID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.client.InsertTx(ctx, tx, jobs.EventBatchArgs{BatchID: poisonID}, &river.InsertOpts{MaxAttempts: 3}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.service.Track(ctx, "proj", events.Event{Name: "After", AnonymousID: "anon-1", MessageID: "good"}); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(20 * time.Second)
	var (
		state   string
		attempt int
	)
	for {
		if err := p.pool.QueryRow(ctx, `SELECT state::text, attempt FROM river_job WHERE kind = 'event_batch' AND args->>'batchId' = $1`,
			fmt.Sprint(poisonID)).Scan(&state, &attempt); err != nil {
			t.Fatal(err)
		}
		if state == "discarded" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if state != "discarded" || attempt != 3 {
		t.Errorf("poison job is %s after %d attempts; want discarded after 3", state, attempt)
	}
	if states := p.waitJobs(t); states["completed"] != 1 {
		t.Errorf("jobs %v; want the good batch completed beside the discarded one", states)
	}
	if got := p.read(t, "proj", []string{"anon-1"}); len(got.History) != 1 {
		t.Errorf("history of the good batch = %v; want its event", got.History)
	}
	if _, found, _ := p.store.LoadEventBatch(ctx, poisonID); !found {
		t.Error("the poison batch row is gone; want it kept for inspection")
	}
}

// recordingSink records the writes it gets, failing while fail is set.
type recordingSink struct {
	mu     sync.Mutex
	writes [][]events.Record
	fail   error
}

func (s *recordingSink) WriteEvents(_ context.Context, recs []events.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.writes = append(s.writes, slices.Clone(recs))
	return nil
}

// TestEventBatcherSharesInserts runs alone so goleak sees only its goroutines.
func TestEventBatcherSharesInserts(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	sink := &recordingSink{}
	b := jobs.NewEventBatcher(sink, jobs.EventBatcherConfig{MaxRows: 1000, MaxDelay: 50 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Start()

	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			recs := make([]events.Record, 30)
			for j := range recs {
				recs[j] = events.Record{MessageID: fmt.Sprintf("%d-%d", i, j), Properties: []byte(`{}`)}
			}
			if err := b.Add(ctx, recs...); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rows := 0
	for _, w := range sink.writes {
		rows += len(w)
		if len(w) > 1000+29 {
			t.Errorf("one insert of %d rows; want at most MaxRows plus one job's rows", len(w))
		}
	}
	if rows != 3000 || len(sink.writes) > 10 {
		t.Errorf("%d rows in %d inserts; want 3000 rows in a few shared inserts", rows, len(sink.writes))
	}

	sink.fail = errors.New("Too many parts")
	if err := b.Add(ctx, events.Record{MessageID: "x"}); err == nil || err.Error() != "Too many parts" {
		t.Errorf("Add during a failing insert = %v; want the insert's error", err)
	}
	b.Stop()
	if err := b.Add(ctx, events.Record{MessageID: "late"}); !errors.Is(err, jobs.ErrEventBatcherStopped) {
		t.Errorf("Add after Stop = %v; want ErrEventBatcherStopped", err)
	}
}

// BenchmarkEventPipeline measures Track end to end on the local Postgres and ClickHouse: 64
// concurrent callers send TrackBatch requests of 10 events (acknowledged once committed with
// their River job) while the workers carry them into ClickHouse and observe new ids. It
// reports acknowledged events/s and the drain time after the last acknowledgement. With
// visitors=new every request comes from a new anonymous id (an anonymous profile per 10 events,
// made by ObserveAll in identity writes of up to identity.MaxObserveIDs ids); with visitors=100
// ids repeat, as returning visitors do.
func BenchmarkEventPipeline(b *testing.B) {
	for _, visitors := range []int64{0, 100} {
		name := "visitors=new"
		if visitors > 0 {
			name = fmt.Sprintf("visitors=%d", visitors)
		}
		b.Run(name, func(b *testing.B) {
			p := setupPipeline(b)
			ctx := context.Background()
			var seq atomic.Int64
			b.SetParallelism(32) // with GOMAXPROCS 2: 64 callers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					visitor := n
					if visitors > 0 {
						visitor = n % visitors
					}
					es := make([]events.Event, 10)
					for i := range es {
						es[i] = events.Event{Name: "Viewed", AnonymousID: fmt.Sprintf("anon-%d", visitor), MessageID: fmt.Sprintf("m%d-%d", n, i),
							Properties: map[string]any{"path": "/pricing", "plan": "pro", "seats": 3.0}}
					}
					if _, err := p.service.TrackBatch(ctx, "proj", es); err != nil {
						b.Error(err)
						return
					}
				}
			})
			acked := b.Elapsed()
			b.StopTimer()
			start := time.Now()
			states := p.waitJobs(b)
			drain := time.Since(start)
			b.ReportMetric(float64(b.N*10)/acked.Seconds(), "acked-events/s")
			b.ReportMetric(float64(drain.Milliseconds()), "drain-ms")
			b.ReportMetric(float64(b.N*10)/float64(states["completed"]), "events/job")
		})
	}
}

// TestBatcherFlushesWhenEveryWorkerWaits: with MaxWaiting adds waiting, nothing more can come,
// so the batcher writes at once instead of waiting out its delay.
func TestBatcherFlushesWhenEveryWorkerWaits(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sink := &recordingSink{}
	const workers = 4
	b := jobs.NewEventBatcher(sink, jobs.EventBatcherConfig{MaxDelay: time.Hour, MaxWaiting: workers}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Start()
	defer b.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			if err := b.Add(ctx, events.Record{MessageID: fmt.Sprint(i), Properties: []byte(`{}`)}); err != nil {
				t.Errorf("Add: %v, want it written once all %d workers wait", err, workers)
			}
		})
	}
	wg.Wait()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.writes) != 1 || len(sink.writes[0]) != workers {
		t.Errorf("writes %v, want one of %d rows", sink.writes, workers)
	}
}
