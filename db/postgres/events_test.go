package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/events"
)

var evNow = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)

// testPublisher stands in for River: it records the batch ids published in each transaction,
// and can fail or hold every publish until released.
type testPublisher struct {
	mu    sync.Mutex
	ids   []int64
	fail  error
	gate  chan struct{} // non-nil: each publish waits for it to close
	calls int
}

func (p *testPublisher) PublishBatchTx(ctx context.Context, tx pgx.Tx, batchID int64) error {
	p.mu.Lock()
	p.calls++
	gate, fail := p.gate, p.fail
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	if _, err := tx.Exec(ctx, `SELECT 1`); err != nil { // the job insert joins this transaction
		return err
	}
	p.mu.Lock()
	p.ids = append(p.ids, batchID)
	p.mu.Unlock()
	return nil
}

type committerBundle struct {
	pool      *pgxpool.Pool
	publisher *testPublisher
	store     *postgres.EventBatchStore
}

func setupCommitter(t *testing.T, cfg postgres.EventCommitterConfig) (*postgres.EventCommitter, committerBundle) {
	t.Helper()
	b := committerBundle{pool: pgtest.New(t), publisher: &testPublisher{}}
	b.store = postgres.NewEventBatchStore(b.pool)
	c := postgres.NewEventCommitter(b.pool, b.publisher, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Start()
	t.Cleanup(c.Stop)
	return c, b
}

func testEvent(project, distinctID, messageID string) events.Event {
	return events.Event{
		ProjectID: project, DistinctID: distinctID, AnonymousID: distinctID, Name: "Viewed",
		Properties: map[string]any{"path": "/a?b=<c>&d", "n": 1.5, "nested": map[string]any{"ok": true}},
		Timestamp:  evNow.Add(-time.Minute), ReceivedAt: evNow, MessageID: messageID,
	}
}

// batchRows returns every event_batches row: id -> event count.
func batchRows(t *testing.T, pool *pgxpool.Pool) map[int64]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, events FROM event_batches`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	var id int64
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEventCommitterGroupsConcurrentAppends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setupCommitter(t, postgres.EventCommitterConfig{})

	const requests = 300
	var wg sync.WaitGroup
	errs := make([]error, requests)
	want := map[string]bool{}
	for i := range requests {
		es := []events.Event{testEvent("proj", fmt.Sprintf("anon-%d", i), fmt.Sprintf("m%d-a", i))}
		if i%3 == 0 { // some requests are batches
			es = append(es, testEvent("proj_b", "user-x", fmt.Sprintf("m%d-b", i)))
		}
		for _, e := range es {
			want[e.MessageID] = true
		}
		wg.Go(func() { errs[i] = c.Append(ctx, es) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}

	rows := batchRows(t, b.pool)
	total, got := 0, map[string]bool{}
	for id, n := range rows {
		total += n
		recs, found, err := b.store.LoadEventBatch(ctx, id)
		if err != nil || !found || len(recs) != n {
			t.Fatalf("LoadEventBatch(%d) = %d records, %v, %v; want %d", id, len(recs), found, err, n)
		}
		for _, r := range recs {
			if got[r.MessageID] {
				t.Errorf("message %s stored twice", r.MessageID)
			}
			got[r.MessageID] = true
		}
	}
	if !cmp.Equal(want, got) || total != len(want) {
		t.Errorf("stored %d events in %d rows; want exactly the %d appended", total, len(rows), len(want))
	}
	// 300 concurrent requests in ~2 ms windows: a handful of commits, never one per request.
	if len(rows) > requests/10 {
		t.Errorf("%d requests made %d batch rows; want them grouped (at most %d)", requests, len(rows), requests/10)
	}
	slices.Sort(b.publisher.ids)
	ids := make([]int64, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if !cmp.Equal(ids, b.publisher.ids) {
		t.Errorf("published batch ids %v; want one job per row %v", b.publisher.ids, ids)
	}
	t.Logf("%d requests (%d events) -> %d batch rows", requests, total, len(rows))
}

func TestEventCommitterFailedCommitFailsTheGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setupCommitter(t, postgres.EventCommitterConfig{MaxDelay: 20 * time.Millisecond})
	b.publisher.fail = errors.New("river: connection reset")

	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { errs[i] = c.Append(ctx, []events.Event{testEvent("proj", "anon", fmt.Sprint(i))}) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, events.ErrUnavailable) {
			t.Errorf("Append %d = %v; want ErrUnavailable when the job cannot be enqueued", i, err)
		}
	}
	if rows := batchRows(t, b.pool); len(rows) != 0 {
		t.Errorf("%d batch rows left after failed commits; want none (the row and its job commit together)", len(rows))
	}
}

// TestEventCommitterBackpressure holds every commit and checks that the committer takes at
// most MaxInFlight running groups plus one full waiting group, and blocks the rest.
func TestEventCommitterBackpressure(t *testing.T) {
	t.Parallel()
	cfg := postgres.EventCommitterConfig{MaxEvents: 10, MaxInFlight: 2}
	c, b := setupCommitter(t, cfg)
	gate := make(chan struct{})
	b.publisher.gate = gate

	const requests = 100
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, requests)
	for i := range requests {
		wg.Go(func() { errs[i] = c.Append(ctx, []events.Event{testEvent("proj", "anon", fmt.Sprint(i))}) })
	}
	wg.Wait() // every Append gave up at its deadline: none was answered while commits hang
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Append %d = %v; want DeadlineExceeded while commits are held", i, err)
		}
	}
	close(gate)
	c.Stop() // commits what was taken
	committed := 0
	for _, n := range batchRows(t, b.pool) {
		committed += n
	}
	if bound := cfg.MaxEvents * (cfg.MaxInFlight + 1); committed > bound || committed == 0 {
		t.Errorf("%d events were taken while commits hung; want 1 to %d ((MaxInFlight+1) groups of MaxEvents)", committed, bound)
	}
	t.Logf("held commits: %d of %d appended events were taken, the rest blocked", committed, requests)
}

func TestEventCommitterStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setupCommitter(t, postgres.EventCommitterConfig{MaxDelay: 5 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Go(func() { errs[i] = c.Append(ctx, []events.Event{testEvent("proj", "anon", fmt.Sprint(i))}) })
		if i == 100 {
			c.Stop()
		}
	}
	wg.Wait()
	acked := 0
	for i, err := range errs {
		switch {
		case err == nil:
			acked++
		case !errors.Is(err, postgres.ErrCommitterStopped) || !errors.Is(err, events.ErrUnavailable):
			t.Errorf("Append %d = %v; want success or ErrCommitterStopped (unavailable)", i, err)
		}
	}
	stored := 0
	for _, n := range batchRows(t, b.pool) {
		stored += n
	}
	if stored != acked {
		t.Errorf("%d Appends acknowledged, %d events stored; want equal: Stop commits all it took and refuses the rest", acked, stored)
	}
	if err := c.Append(ctx, []events.Event{testEvent("proj", "anon", "late")}); !errors.Is(err, events.ErrUnavailable) {
		t.Errorf("Append after Stop = %v; want ErrUnavailable", err)
	}
}

// TestEventCommitterNoLeak runs alone (not parallel), so goleak sees only this test's goroutines.
func TestEventCommitterNoLeak(t *testing.T) {
	pool := pgtest.New(t)
	if err := pool.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck")}
	c := postgres.NewEventCommitter(pool, &testPublisher{}, postgres.EventCommitterConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Start()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { _ = c.Append(context.Background(), []events.Event{testEvent("proj", "anon", fmt.Sprint(i))}) })
	}
	wg.Wait()
	c.Stop()
	goleak.VerifyNone(t, opts...)

	never := postgres.NewEventCommitter(pool, &testPublisher{}, postgres.EventCommitterConfig{}, slog.Default())
	never.Stop() // Stop without Start returns
}

func TestEventBatchStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewEventBatchStore(pool)
	insertRow := func(format int, payload string) int64 {
		var id int64
		err := pool.QueryRow(ctx, `INSERT INTO event_batches (format, events, payload) VALUES ($1, 1, $2) RETURNING id`, format, []byte(payload)).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	if _, found, err := store.LoadEventBatch(ctx, 12345); found || err != nil {
		t.Errorf("LoadEventBatch of a missing batch = found %v, %v; want not found, no error", found, err)
	}
	for name, id := range map[string]int64{
		"not JSON":       insertRow(1, "garbage\n"),
		"missing fields": insertRow(1, `{"p":"proj","e":"x"}`+"\n"),
		"unknown format": insertRow(7, `{}`),
		"cut protobuf":   insertRow(2, "\x0a\x05ab"),
		"empty event":    insertRow(2, "\x0a\x00"),
		"event a varint": insertRow(2, "\x08\x01"),
		"no event":       insertRow(2, "\x12\x03abc"), // only a field this binary skips; the row says 1
		"empty payload":  insertRow(2, ""),
	} {
		if _, _, err := store.LoadEventBatch(ctx, id); !errors.Is(err, events.ErrCorrupt) {
			t.Errorf("LoadEventBatch of a %s payload = %v; want ErrCorrupt", name, err)
		}
	}

	// FinishEventBatch deletes only if complete succeeds, in the same transaction.
	id := insertRow(1, "")
	boom := errors.New("job is not running")
	if err := store.FinishEventBatch(ctx, id, func(context.Context, pgx.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("FinishEventBatch = %v; want the completion's error", err)
	}
	if _, found, _ := store.LoadEventBatch(ctx, id); !found {
		t.Error("batch deleted although its completion failed; want the delete rolled back")
	}
	var inTx bool
	err := store.FinishEventBatch(ctx, id, func(ctx context.Context, tx pgx.Tx) error {
		// The delete is visible inside the transaction that completes the job...
		return tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM event_batches WHERE id = $1)`, id).Scan(&inTx)
	})
	if _, found, _ := store.LoadEventBatch(ctx, id); err != nil || found || !inTx {
		t.Errorf("FinishEventBatch = %v, found after %v, deleted in tx %v; want deleted in the completing tx", err, found, inTx)
	}
	if err := store.FinishEventBatch(ctx, id, func(context.Context, pgx.Tx) error { return nil }); err != nil {
		t.Errorf("FinishEventBatch of a batch already gone = %v; want nil", err)
	}

	// UnknownSubjects: one query, each unknown pair once, ids of deleted profiles known.
	_, err = pool.Exec(ctx, `INSERT INTO distinct_ids (project_id, distinct_id, profile_id, version) VALUES
		('proj', 'known', 'prof_1', 1), ('proj', 'of-deleted', 'prof_2', 1)`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.UnknownSubjects(ctx, []events.Subject{
		{ProjectID: "proj", DistinctID: "known"}, {ProjectID: "proj", DistinctID: "new"}, {ProjectID: "proj", DistinctID: "new"}, {ProjectID: "proj_b", DistinctID: "known"}, {ProjectID: "proj", DistinctID: "of-deleted"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []events.Subject{{ProjectID: "proj", DistinctID: "new"}, {ProjectID: "proj_b", DistinctID: "known"}}
	sortSubjects := func(s []events.Subject) {
		slices.SortFunc(s, func(a, b events.Subject) int {
			return strings.Compare(a.ProjectID+"\x00"+a.DistinctID, b.ProjectID+"\x00"+b.DistinctID)
		})
	}
	sortSubjects(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UnknownSubjects (-want +got):\n%s", diff)
	}
}

// TestPayloadRoundTrip pins the format written: every field survives, properties keep the
// encoding events.EncodeProperties gives them, times keep microseconds, and payloads
// concatenate into one holding the events of both (the committer joins a group's so).
func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	in := []events.Event{
		testEvent("proj", "anon-1", "m1"),
		{ProjectID: "proj", DistinctID: "user-1", ExternalID: "user-1", Name: `quote " and \ ✓`, MessageID: "m2",
			Timestamp: evNow, ReceivedAt: evNow.Add(time.Microsecond)},
	}
	var buf bytes.Buffer
	if err := postgres.EncodePayload(&buf, in); err != nil {
		t.Fatal(err)
	}
	got, err := postgres.DecodePayload(postgres.PayloadFormat, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]events.Record, len(in))
	for i, e := range in {
		if want[i], err = e.Record(); err != nil {
			t.Fatal(err)
		}
		want[i].Timestamp, want[i].ReceivedAt = e.Timestamp.Truncate(time.Microsecond), e.ReceivedAt.Truncate(time.Microsecond)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\npayload:\n%s", diff, buf.String())
	}
	if string(got[0].Properties) != `{"n":1.5,"nested":{"ok":true},"path":"/a?b=<c>&d"}` {
		t.Errorf("properties stored as %s; want the canonical encoding", got[0].Properties)
	}
	var second bytes.Buffer
	if err := postgres.EncodePayload(&second, in[:1]); err != nil {
		t.Fatal(err)
	}
	joined, err := postgres.DecodePayload(postgres.PayloadFormat, append(bytes.Clone(buf.Bytes()), second.Bytes()...))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(append(want, want[0]), joined); diff != "" {
		t.Errorf("two payloads joined (-want +got):\n%s", diff)
	}

	// Accepted events carry the encoding Accept measured; the payload is the same byte for byte
	// as one encoded afresh from the same fields.
	accepted := make([]events.Event, len(in))
	afresh := make([]events.Event, len(in))
	for i, e := range in {
		a, err := events.Accept(e.ProjectID, e, evNow)
		if err != nil {
			t.Fatal(err)
		}
		accepted[i] = a
		afresh[i] = events.Event{ProjectID: a.ProjectID, DistinctID: a.DistinctID, AnonymousID: a.AnonymousID,
			ExternalID: a.ExternalID, Name: a.Name, Properties: a.Properties, Timestamp: a.Timestamp,
			ReceivedAt: a.ReceivedAt, MessageID: a.MessageID}
	}
	var fromAccept, fresh bytes.Buffer
	if err := postgres.EncodePayload(&fromAccept, accepted); err != nil {
		t.Fatal(err)
	}
	if err := postgres.EncodePayload(&fresh, afresh); err != nil {
		t.Fatal(err)
	}
	if fromAccept.String() != fresh.String() {
		t.Errorf("payload of accepted events:\n%q\nwant, as encoded afresh:\n%q", fromAccept.String(), fresh.String())
	}
}

// TestPayloadReadsJSONLines: rows that binaries before the protobuf format left in flight
// (format 1) are still read after an upgrade.
func TestPayloadReadsJSONLines(t *testing.T) {
	t.Parallel()
	payload := `{"p":"proj","d":"user-1","x":"user-1","e":"Signed up","m":"m1","t":1764700000000001,"r":1764700000000002,"o":{"plan":"pro"}}` + "\n" +
		`{"p":"proj","d":"anon-1","a":"anon-1","e":"Viewed","m":"m2","t":1764700000000003,"r":1764700000000004,"o":{}}` + "\n"
	got, err := postgres.DecodePayload(postgres.PayloadJSONLines, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	want := []events.Record{
		{ProjectID: "proj", DistinctID: "user-1", ExternalID: "user-1", Name: "Signed up", MessageID: "m1",
			Properties: json.RawMessage(`{"plan":"pro"}`), Timestamp: time.UnixMicro(1764700000000001).UTC(), ReceivedAt: time.UnixMicro(1764700000000002).UTC()},
		{ProjectID: "proj", DistinctID: "anon-1", AnonymousID: "anon-1", Name: "Viewed", MessageID: "m2",
			Properties: json.RawMessage(`{}`), Timestamp: time.UnixMicro(1764700000000003).UTC(), ReceivedAt: time.UnixMicro(1764700000000004).UTC()},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("format 1 (-want +got):\n%s", diff)
	}
}

// TestPayloadRefusesAKnownFieldOfTheWrongType: a timestamp written as bytes is damage, not a
// field to skip; a field number this binary does not know is skipped.
func TestPayloadRefusesAKnownFieldOfTheWrongType(t *testing.T) {
	t.Parallel()
	event := func(extra []byte) []byte {
		var ev []byte
		for _, f := range []struct {
			n protowire.Number
			v string
		}{{1, "proj"}, {2, "anon-1"}, {6, "m1"}, {9, "{}"}} {
			ev = protowire.AppendTag(ev, f.n, protowire.BytesType)
			ev = protowire.AppendString(ev, f.v)
		}
		ev = append(ev, extra...)
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), ev)
	}
	unknown := protowire.AppendString(protowire.AppendTag(nil, 40, protowire.BytesType), "new")
	if recs, err := postgres.DecodePayload(postgres.PayloadFormat, event(unknown)); err != nil || len(recs) != 1 || recs[0].MessageID != "m1" {
		t.Fatalf("an event with an unknown field = %+v, %v; want it read", recs, err)
	}
	wrong := protowire.AppendString(protowire.AppendTag(nil, 7, protowire.BytesType), "x")
	if _, err := postgres.DecodePayload(postgres.PayloadFormat, event(wrong)); !errors.Is(err, events.ErrCorrupt) {
		t.Errorf("an event with a timestamp as bytes = %v; want ErrCorrupt", err)
	}
}

// FuzzDecodePayload: whatever a row holds, decoding it either fails with ErrCorrupt or gives
// events that each have their project, distinct id, message id and an object of properties;
// it never panics.
func FuzzDecodePayload(f *testing.F) {
	var buf bytes.Buffer
	if err := postgres.EncodePayload(&buf, benchEvents(2)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("\x0a\x00"))
	f.Add([]byte("\x12\x01x\x0a\x03\x0a\x01p"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		recs, err := postgres.DecodePayload(postgres.PayloadFormat, payload)
		if err != nil {
			if !errors.Is(err, events.ErrCorrupt) {
				t.Fatalf("DecodePayload = %v; want ErrCorrupt", err)
			}
			return
		}
		for i, r := range recs {
			if r.ProjectID == "" || r.DistinctID == "" || r.MessageID == "" || !bytes.HasPrefix(r.Properties, []byte("{")) || !bytes.HasSuffix(r.Properties, []byte("}")) {
				t.Fatalf("event %d decoded without a required field: %+v", i, r)
			}
		}
	})
}

// benchEvents returns n typical events as the committer gets them: accepted.
func benchEvents(n int) []events.Event {
	es := make([]events.Event, n)
	for i := range es {
		e := testEvent("proj", fmt.Sprintf("anon-%d", i), fmt.Sprintf("srv_%032d", i))
		e.Properties = map[string]any{
			"plan": "pro", "seats": 3.0, "trial": false, "path": "/pricing", "referrer": "https://example.com/a?b=c",
			"title": "Pricing — Example", "width": 1280.0, "height": 800.0, "tags": []any{"a", "b", "c"},
			"utm": map[string]any{"source": "newsletter", "medium": "email", "campaign": "spring"},
		}
		var err error
		if es[i], err = events.Accept("proj", e, evNow); err != nil {
			panic(err)
		}
	}
	return es
}

// BenchmarkEncodePayload measures encoding 5,000 typical events (a full commit group).
func BenchmarkEncodePayload(b *testing.B) {
	es := benchEvents(5000)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := postgres.EncodePayload(&buf, es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(es))/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(buf.Len())/float64(len(es)), "bytes/event")
}

// BenchmarkDecodePayload measures the worker's side: decoding 5,000 typical events.
func BenchmarkDecodePayload(b *testing.B) {
	var buf bytes.Buffer
	if err := postgres.EncodePayload(&buf, benchEvents(5000)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := postgres.DecodePayload(postgres.PayloadFormat, buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*5000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEventCommitter measures Track's durable path: 64 concurrent callers appending
// requests of 1 (Track) or 10 (a small TrackBatch) events through the group committer into
// the local Postgres (the publisher is a stand-in: no River job insert).
func BenchmarkEventCommitter(b *testing.B) {
	for _, size := range []int{1, 10} {
		b.Run(fmt.Sprintf("events=%d", size), func(b *testing.B) {
			pool := pgtest.New(b)
			c := postgres.NewEventCommitter(pool, &testPublisher{}, postgres.EventCommitterConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			c.Start()
			defer c.Stop()
			es := benchEvents(size)
			b.SetParallelism(32) // with GOMAXPROCS 2: 64 callers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Append(context.Background(), es); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*len(es))/b.Elapsed().Seconds(), "events/s")
			var rows int
			_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM event_batches`).Scan(&rows)
			b.ReportMetric(float64(b.N)/float64(max(rows, 1)), "requests/commit")
		})
	}
}

// TestEventBatchStorePlansForTheQueueAsItIs: a session that loaded and deleted batches while
// event_batches was empty (vacuumed so) kept the empty table's plans, a scan of every row; once
// the queue fills and QueueStats analyzes it, the same session looks batches up by their key.
func TestEventBatchStorePlansForTheQueueAsItIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewURL(t)
	admin, err := postgres.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	one, err := postgres.Open(ctx, url, 1) // one session, whose plans the store's calls share
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	store := postgres.NewEventBatchStore(one)
	noop := func(context.Context, pgx.Tx) error { return nil }
	if _, err := admin.Exec(ctx, `ALTER TABLE event_batches SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `VACUUM ANALYZE event_batches`); err != nil {
		t.Fatal(err)
	}
	for range 6 { // past the five custom plans after which Postgres may keep a generic one
		if _, _, err := store.LoadEventBatch(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := store.FinishEventBatch(ctx, 1, noop); err != nil {
			t.Fatal(err)
		}
	}
	fillQueue(t, admin, "event_batches", `INSERT INTO event_batches (format, events, payload) SELECT 2, 0, '' FROM generate_series(1, 20000)`)
	analyzeOutgrown(t, postgres.NewQueueStats(admin), "event_batches")
	scans := func() (seq, idx int64) {
		t.Helper()
		if _, err := one.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		err := admin.QueryRow(ctx, `SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_user_tables
			WHERE relname = 'event_batches'`).Scan(&seq, &idx)
		if err != nil {
			t.Fatal(err)
		}
		return seq, idx
	}
	seq, idx := scans()
	if _, found, err := store.LoadEventBatch(ctx, 20000); !found || err != nil {
		t.Fatalf("LoadEventBatch = found %v, %v; want found", found, err)
	}
	if err := store.FinishEventBatch(ctx, 20000, noop); err != nil {
		t.Fatal(err)
	}
	seqAfter, idxAfter := scans()
	if seqAfter != seq || idxAfter < idx+2 {
		t.Errorf("loading and finishing one batch of 20,000: %d scans of the table, %d of its key; want 0 and 2",
			seqAfter-seq, idxAfter-idx)
	}
}
