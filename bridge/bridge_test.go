package bridge

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"go.uber.org/goleak"

	"github.com/poluruprvn/profiles/db/pgtest"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// natsURL is the real NATS with JetStream every machine runs (scripts/setup.sh).
func natsURL() string {
	return cmp.Or(os.Getenv("PROFILES_NATS_URL"), "nats://127.0.0.1:4222")
}

// call is one identity call the bridge made, as the recorder saw it.
type call struct {
	kind, messageID, externalID string
	res                         identity.Result
	err                         error
}

// recorder wraps the real identity service; wrap, when set, may change what a call returns.
type recorder struct {
	svc  *identity.Service
	wrap func(ctx context.Context, c call) (identity.Result, error)

	mu    sync.Mutex
	calls []call
}

func (r *recorder) Identify(ctx context.Context, project string, req identity.IdentifyRequest) (identity.Result, error) {
	res, err := r.svc.Identify(ctx, project, req)
	return r.record(ctx, call{"identify", req.MessageID, req.ExternalID, res, err})
}

func (r *recorder) Alias(ctx context.Context, project string, req identity.AliasRequest) (identity.Result, error) {
	res, err := r.svc.Alias(ctx, project, req)
	return r.record(ctx, call{"alias", req.MessageID, req.ExternalID, res, err})
}

func (r *recorder) record(ctx context.Context, c call) (identity.Result, error) {
	if r.wrap != nil {
		c.res, c.err = r.wrap(ctx, c)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return c.res, c.err
}

// callsFor returns the calls made for externalID so far.
func (r *recorder) callsFor(externalID string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.externalID == externalID {
			out = append(out, c)
		}
	}
	return out
}

type bundle struct {
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	ids    *recorder
	cfg    Config
	bridge *Bridge
}

// setup returns a started bridge on a stream and subject prefix of its own, applying into a
// fresh Postgres database, and a JetStream client to publish with. edit adjusts the Config
// (and may set the recorder's wrap) before Start.
func setup(t *testing.T, edit func(*Config, *recorder)) bundle {
	t.Helper()
	nc, err := nats.Connect(natsURL(), nats.Timeout(3*time.Second))
	if err != nil {
		t.Fatalf("NATS at %s (PROFILES_NATS_URL) is unreachable: %v; run scripts/setup.sh", natsURL(), err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.New(t)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ids := &recorder{svc: identity.NewService(postgres.NewIdentityStore(pool, jobs.Publisher{Client: client}))}

	suffix := randomHex(t)
	cfg := Config{
		URL:           natsURL(),
		Stream:        "PROFILES_TEST_" + suffix,
		SubjectPrefix: "ptest_" + suffix,
		RetryDelay:    10 * time.Millisecond,
		MaxAge:        time.Hour,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if edit != nil {
		edit(&cfg, ids)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, cfg.Stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("delete stream %s: %v", cfg.Stream, err)
		}
	})
	b := New(ids, cfg)
	for attempt := 1; ; attempt++ {
		err := b.Start(context.Background())
		// nats-server 2.9 removes the account's streams directory when its last stream is
		// deleted; a create racing that (another parallel test's cleanup) fails with 10049.
		// Start leaves nothing behind on failure, so it can simply be retried.
		var apiErr *jetstream.APIError
		if err != nil && attempt < 5 && errors.As(err, &apiErr) && apiErr.ErrorCode == 10049 {
			continue
		}
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		break
	}
	t.Cleanup(b.Stop) // runs before the stream is deleted
	return bundle{pool: pool, js: js, ids: ids, cfg: b.cfg, bridge: b}
}

func randomHex(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// publish sends body on <prefix>.<project>.<kind> and returns JetStream's answer.
func (b bundle) publish(t *testing.T, project, kind, body string, opts ...jetstream.PublishOpt) *jetstream.PubAck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := b.js.Publish(ctx, b.cfg.SubjectPrefix+"."+project+"."+kind, []byte(body), opts...)
	if err != nil {
		t.Fatalf("publish %s %s: %v", project, kind, err)
	}
	return ack
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// owner returns the profile the distinct id points at in project, or "".
func (b bundle) owner(t *testing.T, project, distinctID string) string {
	t.Helper()
	var id string
	_ = b.pool.QueryRow(context.Background(),
		`SELECT profile_id FROM distinct_ids WHERE project_id = $1 AND distinct_id = $2`, project, distinctID).Scan(&id)
	return id
}

func (b bundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// settled waits until the consumer has no message pending or awaiting an ack, and returns its
// state.
func (b bundle) settled(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	eventually(t, "every message acked or terminated", func() bool {
		c, err := b.js.Consumer(context.Background(), b.cfg.Stream, b.cfg.Consumer)
		if err != nil {
			t.Fatal(err)
		}
		info, err = c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	return info
}

func TestIdentifyCreatesProfile(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.publish(t, "proj_a", "identify", `{"externalId":"u1","anonymousId":"a1","traits":{"plan":"pro"},"someFieldFromTheFuture":1}`)

	eventually(t, "u1 to have a profile", func() bool { return b.owner(t, "proj_a", "u1") != "" })
	prof := b.owner(t, "proj_a", "u1")
	if got := b.owner(t, "proj_a", "a1"); got != prof {
		t.Errorf("a1 points at %q, want u1's profile %s", got, prof)
	}
	var ext, plan string
	if err := b.pool.QueryRow(context.Background(), `SELECT external_id, traits->>'plan' FROM profiles WHERE project_id = 'proj_a' AND id = $1`,
		prof).Scan(&ext, &plan); err != nil || ext != "u1" || plan != "pro" {
		t.Errorf("profile row = (%q, plan %q, %v), want (u1, pro)", ext, plan, err)
	}
	if n := b.count(t, `SELECT count(*) FROM idempotency_keys WHERE project_id = 'proj_a' AND message_id LIKE 'nats:' || $1 || ':1:%'`, b.cfg.Stream); n != 1 {
		t.Errorf("idempotency keys for stream sequence 1 = %d, want 1 (the derived message id)", n)
	}
	if n := b.count(t, `SELECT count(*) FROM distinct_ids WHERE project_id <> 'proj_a'`); n != 0 {
		t.Errorf("%d distinct ids outside proj_a, want 0", n)
	}
	if info := b.settled(t); info.AckFloor.Stream != 1 {
		t.Errorf("ack floor = %d, want 1", info.AckFloor.Stream)
	}
}

func TestAliasLinks(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.publish(t, "proj_a", "identify", `{"externalId":"u1"}`)
	eventually(t, "u1 to have a profile", func() bool { return b.owner(t, "proj_a", "u1") != "" })

	b.publish(t, "proj_a", "alias", `{"previousId":"legacy-7","externalId":"u1"}`)
	eventually(t, "legacy-7 to be linked", func() bool { return b.owner(t, "proj_a", "legacy-7") != "" })
	if got, want := b.owner(t, "proj_a", "legacy-7"), b.owner(t, "proj_a", "u1"); got != want {
		t.Errorf("legacy-7 points at %s, want u1's profile %s", got, want)
	}
	calls := b.ids.callsFor("u1")
	if len(calls) != 2 || calls[1].kind != "alias" || calls[1].res.Outcome != identity.OutcomeLinked {
		t.Errorf("calls for u1 = %+v, want identify then alias with outcome linked", calls)
	}
}

// JetStream drops a second publish with the same Nats-Msg-Id: the bridge sees one message.
func TestSameNatsMsgIDAppliedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	body := `{"externalId":"u1","traits":{"n":1}}`
	if ack := b.publish(t, "proj_a", "identify", body, jetstream.WithMsgID("m-1")); ack.Duplicate {
		t.Fatal("first publish reported as duplicate")
	}
	if ack := b.publish(t, "proj_a", "identify", body, jetstream.WithMsgID("m-1")); !ack.Duplicate || ack.Sequence != 1 {
		t.Errorf("second publish = %+v, want a duplicate of sequence 1", ack)
	}
	b.settled(t)
	if calls := b.ids.callsFor("u1"); len(calls) != 1 {
		t.Errorf("identity called %d times, want once", len(calls))
	}
	if n := b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'identity_projection_v2'`); n != 1 {
		t.Errorf("projection jobs = %d, want 1", n)
	}
}

// Two NATS messages with one body messageId: the second is answered from the first.
func TestExplicitMessageIDAppliedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config, _ *recorder) { c.MaxInFlight = 1 }) // in publish order
	b.publish(t, "proj_a", "identify", `{"externalId":"u1","messageId":"msg-1","traits":{"plan":"free"}}`)
	b.publish(t, "proj_a", "identify", `{"externalId":"u1","messageId":"msg-1","traits":{"plan":"pro"}}`)
	b.settled(t)

	calls := b.ids.callsFor("u1")
	if len(calls) != 2 || calls[0].res.Replayed || !calls[1].res.Replayed || calls[1].messageID != "msg-1" {
		t.Fatalf("calls = %+v, want the second replayed under msg-1", calls)
	}
	if n := b.count(t, `SELECT count(*) FROM profiles WHERE project_id = 'proj_a' AND traits->>'plan' = 'free'`); n != 1 {
		t.Errorf("profiles with plan free = %d, want 1: the replay must not apply its traits", n)
	}
	if n := b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'identity_projection_v2'`); n != 1 {
		t.Errorf("projection jobs = %d, want 1", n)
	}
}

// A write that committed but was never acked (the process died, the ack was lost) is
// redelivered; the derived message id makes the redelivery a replay.
func TestRedeliveryAfterCommitReplays(t *testing.T) {
	t.Parallel()
	var once sync.Once
	b := setup(t, func(_ *Config, r *recorder) {
		r.wrap = func(_ context.Context, c call) (identity.Result, error) {
			err := c.err
			once.Do(func() { err = errors.New("lost after commit") })
			return c.res, err
		}
	})
	b.publish(t, "proj_a", "identify", `{"externalId":"u1","traits":{"plan":"pro"}}`)
	info := b.settled(t)

	calls := b.ids.callsFor("u1")
	if len(calls) != 2 || calls[0].res.Replayed || !calls[1].res.Replayed || calls[0].messageID != calls[1].messageID ||
		!strings.HasPrefix(calls[0].messageID, "nats:"+b.cfg.Stream+":1:") {
		t.Fatalf("calls = %+v, want a first apply and a replay under one nats: message id", calls)
	}
	if info.NumRedelivered != 0 || info.AckFloor.Stream != 1 {
		t.Errorf("consumer = %+v, want sequence 1 acked", info)
	}
	if n := b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'identity_projection_v2'`); n != 1 {
		t.Errorf("projection jobs = %d, want 1: the redelivery must not write again", n)
	}
}

// Messages the sender must change are terminated at once and never hold up the next one, even
// with one message in flight at a time.
func TestRefusedMessagesAreTerminated(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config, _ *recorder) { c.MaxInFlight = 1 })
	b.publish(t, "proj_a", "identify", `{"externalId":"undefined","traits":{"secret":"s3cr3t"}}`)
	b.publish(t, "proj_a", "identify", `{"externalId":`)     // not JSON
	b.publish(t, "*", "identify", `{"externalId":"u-wild"}`) // a wildcard for a project
	b.publish(t, "proj_a", "alias", `{"previousId":"","externalId":"u9"}`)
	b.publish(t, "proj_a", "identify", `{"externalId":"u2"}`)

	eventually(t, "u2 to have a profile", func() bool { return b.owner(t, "proj_a", "u2") != "" })
	info := b.settled(t)
	if info.NumRedelivered != 0 || info.AckFloor.Stream != 5 {
		t.Errorf("consumer = %+v, want all 5 settled with no redelivery", info)
	}
	if calls := b.ids.callsFor("undefined"); len(calls) != 1 || !errors.Is(calls[0].err, identity.ErrInvalid) {
		t.Errorf("calls for the junk id = %+v, want one, refused as invalid", calls)
	}
	if calls := b.ids.callsFor("u-wild"); len(calls) != 0 {
		t.Errorf("a wildcard project reached identity: %+v", calls)
	}
	if n := b.count(t, `SELECT count(*) FROM profiles`); n != 1 {
		t.Errorf("profiles = %d, want only u2's", n)
	}
}

// A message that keeps failing for a server-side reason is retried until MaxDeliver, then
// dropped; the ones behind it go on.
func TestUnavailableIsRetriedThenDropped(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config, r *recorder) {
		c.MaxDeliver = 3
		r.wrap = func(_ context.Context, c call) (identity.Result, error) {
			if c.externalID == "u-down" {
				return identity.Result{}, identity.ErrUnavailable
			}
			return c.res, c.err
		}
	})
	b.publish(t, "proj_a", "identify", `{"externalId":"u-down"}`)
	b.publish(t, "proj_a", "identify", `{"externalId":"u2"}`)
	eventually(t, "u-down to be tried 3 times", func() bool { return len(b.ids.callsFor("u-down")) == 3 })
	info := b.settled(t)
	if info.AckFloor.Stream != 2 || len(b.ids.callsFor("u2")) != 1 {
		t.Errorf("consumer = %+v, u2 calls = %d; want both settled, u2 applied once", info, len(b.ids.callsFor("u2")))
	}
}

func TestStopReturnsPromptly(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	begin := time.Now()
	b.bridge.Stop()
	if took := time.Since(begin); took > time.Second {
		t.Errorf("Stop of an idle bridge took %s", took)
	}
	b.bridge.Stop() // twice is fine
	if err := b.bridge.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded, want an error")
	}
	New(b.ids, b.cfg).Stop() // never started
}

// An apply still running at the drain deadline is cancelled, and Stop returns.
func TestStopCancelsStuckApply(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	b := setup(t, func(c *Config, r *recorder) {
		c.DrainTimeout = 200 * time.Millisecond
		r.wrap = func(ctx context.Context, _ call) (identity.Result, error) {
			close(started)
			<-ctx.Done()
			return identity.Result{}, ctx.Err()
		}
	})
	b.publish(t, "proj_a", "identify", `{"externalId":"u1"}`)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the message never reached identity")
	}
	begin := time.Now()
	b.bridge.Stop()
	if took := time.Since(begin); took < 200*time.Millisecond || took > 2*time.Second {
		t.Errorf("Stop took %s, want the drain timeout (200ms) and little more", took)
	}
	if calls := b.ids.callsFor("u1"); len(calls) != 1 || !errors.Is(calls[0].err, context.Canceled) {
		t.Errorf("calls = %+v, want one, cancelled", calls)
	}
}

func TestStartFailsWithoutNATS(t *testing.T) {
	t.Parallel()
	b := New(&recorder{}, Config{URL: "nats://user:pw@127.0.0.1:1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	err := b.Start(context.Background())
	if err == nil {
		b.Stop()
		t.Fatal("Start succeeded with no server")
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("error %q carries the URL's password", err)
	}
	b.Stop()
}
