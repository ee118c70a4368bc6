package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"

	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
	"github.com/poluruprvn/profiles/identity"
	"github.com/poluruprvn/profiles/internal/wire"
)

// The kinds of message: the last token of the subject.
const (
	kindIdentify = "identify"
	kindAlias    = "alias"
)

// maxProjectBytes bounds the project token; project ids are "proj_" and 16 characters.
const maxProjectBytes = 64

// errBadMessage marks a message the sender must change that never reached identity: a subject
// or body the bridge cannot read. It is terminated like identity.ErrInvalid.
var errBadMessage = errors.New("bad message")

// unmarshal reads the API's JSON; fields this build does not know are ignored, as the API
// ignores them, so publishers may be newer than the bridge.
var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// parseSubject splits <prefix>.<project>.<kind>. The project must be a plain token: a '.', '*'
// or '>' in it would make the subject mean another project or several. Pinned by
// TestParseSubject.
func parseSubject(prefix, subject string) (project, kind string, err error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if ok {
		project, kind, ok = strings.Cut(rest, ".")
	}
	if !ok || (kind != kindIdentify && kind != kindAlias) || !plainToken(project) {
		return "", "", fmt.Errorf("%w: subject %.120q is not %s.<project>.identify or %s.<project>.alias "+
			"with a project id of letters, digits, '_' or '-'", errBadMessage, subject, prefix, prefix)
	}
	return project, kind, nil
}

func plainToken(s string) bool {
	if s == "" || len(s) > maxProjectBytes {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// messageID names a message for the idempotency table when its body carries no messageId: a
// redelivery has the same stream, stream sequence and stored time, so identity answers it
// from the first delivery's record instead of applying it twice. The stored time is there
// because a sequence alone starts again at 1 when the stream is deleted and created again;
// within the idempotency retention (a day) a new message would then be taken for an old one
// and silently not applied.
func messageID(meta *jetstream.MsgMetadata) string {
	return fmt.Sprintf("nats:%s:%d:%d", meta.Stream, meta.Sequence.Stream, meta.Timestamp.UnixNano())
}

// handle applies one message and settles it: Ack, Term or Nak (see the package comment).
func (b *Bridge) handle(ctx context.Context, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil { // not a JetStream delivery: cannot happen on a pull consumer
		b.log.Error("nats bridge: message without JetStream metadata", "subject", msg.Subject(), "error", err)
		_ = msg.Term()
		return
	}
	log := b.log.With("subject", msg.Subject(), "stream_seq", meta.Sequence.Stream, "delivery", meta.NumDelivered)
	project, kind, err := parseSubject(b.cfg.SubjectPrefix, msg.Subject())
	var res identity.Result
	if err == nil {
		// Bounded well inside AckWait, so the server never redelivers a message still applying.
		actx, cancel := context.WithTimeout(ctx, b.cfg.AckWait*2/3)
		res, err = b.apply(actx, project, kind, msg.Data(), messageID(meta))
		cancel()
	}
	// Logs carry ids and field errors, never trait values or the body.
	switch {
	case err == nil:
		log.Debug("nats bridge: applied", "outcome", res.Outcome, "profile_id", res.ProfileID, "replayed", res.Replayed)
		settle(log, "ack", msg.Ack())
	case errors.Is(err, errBadMessage), errors.Is(err, identity.ErrInvalid), errors.Is(err, identity.ErrBothIdentified):
		log.Warn("nats bridge: message refused, terminated", "error", err)
		settle(log, "term", msg.Term())
	case ctx.Err() != nil:
		// Stop gave up waiting: hand the message back at once, for another process to take.
		log.Warn("nats bridge: apply cancelled by Stop, handed back", "error", err)
		settle(log, "nak", msg.Nak())
	case meta.NumDelivered >= uint64(b.cfg.MaxDeliver):
		log.Error("nats bridge: message failed on its last delivery, dropped", "error", err)
		settle(log, "term", msg.Term())
	default:
		delay := retryDelay(b.cfg.RetryDelay, meta.NumDelivered)
		log.Error("nats bridge: apply failed, will retry", "error", err, "retry_in", delay.String())
		settle(log, "nak", msg.NakWithDelay(delay))
	}
}

// settle logs a failed Ack, Term or Nak. None is fatal: the server redelivers after AckWait
// and the redelivery replays.
func settle(log *slog.Logger, what string, err error) {
	if err != nil {
		log.Warn("nats bridge: "+what+" failed; the message will be redelivered", "error", err)
	}
}

// retryDelay doubles base per delivery already made, up to maxRetryDelay.
func retryDelay(base time.Duration, delivered uint64) time.Duration {
	d := base
	for i := uint64(1); i < delivered && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

// apply decodes body and calls identity. fallbackID is the message id when the body has none.
func (b *Bridge) apply(ctx context.Context, project, kind string, body []byte, fallbackID string) (identity.Result, error) {
	if kind == kindAlias {
		var m profilesv1.AliasRequest
		if err := unmarshal.Unmarshal(body, &m); err != nil {
			return identity.Result{}, fmt.Errorf("%w: body is not an AliasRequest in JSON (%d bytes)", errBadMessage, len(body))
		}
		req := wire.AliasRequest(&m)
		req.MessageID = cmp.Or(req.MessageID, fallbackID)
		return b.svc.Alias(ctx, project, req)
	}
	var m profilesv1.IdentifyRequest
	if err := unmarshal.Unmarshal(body, &m); err != nil {
		// protojson's message quotes the offending input, which may be a trait value: not kept.
		return identity.Result{}, fmt.Errorf("%w: body is not an IdentifyRequest in JSON (%d bytes)", errBadMessage, len(body))
	}
	req := wire.IdentifyRequest(&m)
	req.MessageID = cmp.Or(req.MessageID, fallbackID)
	return b.svc.Identify(ctx, project, req)
}
