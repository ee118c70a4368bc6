package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/poluruprvn/profiles/identity"
)

// Identity is what the bridge needs of the identity service. Errors are identity's: ErrInvalid
// and ErrBothIdentified are the sender's fault, anything else may pass on a retry.
type Identity interface {
	Identify(ctx context.Context, projectID string, req identity.IdentifyRequest) (identity.Result, error)
	Alias(ctx context.Context, projectID string, req identity.AliasRequest) (identity.Result, error)
}

var _ Identity = (*identity.Service)(nil)

// Config says where to consume from. Zero fields take the defaults shown.
type Config struct {
	URL           string        // NATS server URL; required
	Stream        string        // JetStream stream the bridge owns: Start creates or updates it; "PROFILES"
	SubjectPrefix string        // subjects are <prefix>.<project>.identify|alias; "profiles"
	Consumer      string        // durable pull consumer, shared by every process; "profiles-bridge"
	MaxAge        time.Duration // how long the stream keeps a message, acked or not; 7 days
	MaxInFlight   int           // messages applied at once per process; 32
	MaxDeliver    int           // deliveries of one message before it is dropped; 10
	AckWait       time.Duration // redelivery after this without an ack; also bounds one apply; 30s
	RetryDelay    time.Duration // first Nak delay, doubled per delivery up to a minute; 1s
	DrainTimeout  time.Duration // Stop waits this long for in-flight messages, then cancels them; 10s
	Logger        *slog.Logger  // slog.Default() when nil
}

const maxRetryDelay = time.Minute

func (c Config) withDefaults() Config {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&c.Stream, "PROFILES")
	def(&c.SubjectPrefix, "profiles")
	def(&c.Consumer, "profiles-bridge")
	for _, d := range []struct {
		v *time.Duration
		d time.Duration
	}{{&c.MaxAge, 7 * 24 * time.Hour}, {&c.AckWait, 30 * time.Second}, {&c.RetryDelay, time.Second}, {&c.DrainTimeout, 10 * time.Second}} {
		if *d.v <= 0 {
			*d.v = d.d
		}
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 32
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Bridge consumes the stream into the identity service. Start it once; Stop it before the
// River client the identity store publishes through stops.
type Bridge struct {
	svc Identity
	cfg Config
	log *slog.Logger

	stopping atomic.Bool // Stop was called: the iterator closing is expected

	mu      sync.Mutex
	state   int // 0 new, 1 started, 2 stopped
	nc      *nats.Conn
	iter    jetstream.MessagesContext
	cancel  context.CancelFunc // cancels in-flight applies, after DrainTimeout
	stopped chan struct{}      // closed when the consume loop and every apply returned
}

// New returns a Bridge that applies messages through svc.
func New(svc Identity, cfg Config) *Bridge {
	cfg = cfg.withDefaults()
	return &Bridge{svc: svc, cfg: cfg, log: cfg.Logger}
}

// Start connects, creates or updates the stream and the durable consumer, and starts consuming.
// ctx bounds the setup only; consuming lasts until Stop (cancelling the context handed to a
// running apply would fail it half way, as with River's Start). Errors never carry the URL,
// which may hold a password.
func (b *Bridge) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != 0 {
		return errors.New("bridge: Start called twice or after Stop")
	}
	if b.cfg.URL == "" {
		return errors.New("bridge: no NATS URL")
	}
	if len(b.cfg.Stream) > 64 { // it is part of the derived message ids, which identity bounds
		return fmt.Errorf("bridge: stream name longer than 64 bytes: %.64q…", b.cfg.Stream)
	}
	nc, err := nats.Connect(b.cfg.URL, nats.Name("profiles-bridge"), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close
				b.log.Warn("nats bridge: disconnected, reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { b.log.Info("nats bridge: reconnected") }))
	if err != nil {
		return fmt.Errorf("bridge: connect to NATS: %w", err)
	}
	iter, err := b.subscribe(ctx, nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("bridge: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.state, b.nc, b.iter, b.cancel, b.stopped = 1, nc, iter, cancel, make(chan struct{})
	go b.run(runCtx, iter, b.stopped)
	b.log.Info("nats bridge consuming", "stream", b.cfg.Stream, "consumer", b.cfg.Consumer,
		"subjects", b.subjects(), "max_in_flight", b.cfg.MaxInFlight)
	return nil
}

func (b *Bridge) subjects() []string {
	return []string{b.cfg.SubjectPrefix + ".*.identify", b.cfg.SubjectPrefix + ".*.alias"}
}

// subscribe creates or updates the stream and the consumer and opens a pull iterator on it.
func (b *Bridge) subscribe(ctx context.Context, nc *nats.Conn) (jetstream.MessagesContext, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.cfg.Stream,
		Description: "identify and alias messages for Profiles",
		Subjects:    b.subjects(),
		Storage:     jetstream.FileStorage,
		MaxAge:      b.cfg.MaxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", b.cfg.Stream, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:     b.cfg.Consumer,
		Description: "Profiles: applies identify and alias messages",
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     b.cfg.AckWait,
		MaxDeliver:  b.cfg.MaxDeliver,
		// Consumer-wide, over every process: room for 15 of them at 32 applying + 32 buffered.
		MaxAckPending: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update consumer %s: %w", b.cfg.Consumer, err)
	}
	// The client buffers no more than one round of applies: a buffered message's AckWait runs.
	return cons.Messages(jetstream.PullMaxMessages(b.cfg.MaxInFlight), jetstream.WithMessagesErrOnMissingHeartbeat(false))
}

// run hands messages to at most MaxInFlight applies and returns once the iterator is closed
// and every apply has returned.
func (b *Bridge) run(ctx context.Context, iter jetstream.MessagesContext, stopped chan struct{}) {
	defer close(stopped)
	var applies sync.WaitGroup
	defer applies.Wait()
	slots := make(chan struct{}, b.cfg.MaxInFlight)
	for {
		msg, err := iter.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			if !b.stopping.Load() {
				// The consumer was deleted or the connection closed for good: nothing more
				// arrives until the process restarts (Start recreates the consumer).
				b.log.Error("nats bridge: consuming ended before Stop; restart the process to resume", "error", err)
			}
			return
		}
		if err != nil {
			// Reconnects and the like: the iterator resumes by itself.
			b.log.Warn("nats bridge: fetching messages", "error", err)
			continue
		}
		slots <- struct{}{}
		applies.Go(func() {
			defer func() { <-slots }()
			b.handle(ctx, msg)
		})
	}
}

// Stop stops fetching, lets the messages already fetched finish for up to DrainTimeout, then
// cancels the rest (they are Nak'ed or redelivered after AckWait, and replay idempotently),
// and closes the connection. It returns once no goroutine of the bridge runs. Safe to call
// more than once, and without Start.
func (b *Bridge) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != 1 {
		b.state = 2
		return
	}
	b.state = 2
	b.stopping.Store(true)
	b.iter.Drain()
	timer := time.NewTimer(b.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-b.stopped:
	case <-timer.C:
		b.log.Warn("nats bridge: messages still applying at the drain deadline; cancelling them (they will be redelivered)")
		b.cancel()
		<-b.stopped
	}
	b.cancel()
	// Acks are fire-and-forget: flush them before closing. One lost is redelivered and replayed.
	_ = b.nc.FlushTimeout(time.Second)
	b.nc.Close()
	b.log.Info("nats bridge stopped")
}
