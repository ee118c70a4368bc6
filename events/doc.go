// Package events ingests tracked events: what the SDKs send with Track and TrackBatch.
//
// It is the domain and the Connect handler of event ingestion. It validates events (Accept,
// AcceptBatch), gives each the server's decisions (its distinct id, receive time, and a
// timestamp and message id when the client sent none), and hands them to an Ingester, which
// returns only once they are durable. It imports identity (id and JSON-value validation), auth
// and the generated API; never db or jobs, which implement its interfaces.
//
// The path of an event, and who owns each step:
//
//	Handler -> Service.Track -> Ingester.Append   (db/postgres.EventCommitter: many requests,
//	                                               one event_batches row + one River job, one
//	                                               transaction; the client is answered after it
//	                                               commits)
//	River "event_batch" job -> ClickHouse insert  (jobs.EventBatchWorker: many jobs share one
//	                                               insert; the batch row is deleted and the job
//	                                               completed in one transaction afterwards)
//
// # Guarantees
//
// An event acknowledged to the client is in Postgres (event_batches, with its job), and reaches
// ClickHouse at least once. A batch request is all or nothing: one invalid event refuses the
// whole request, naming the field as events[i].field, and nothing of it is stored.
//
// Deduplication is by message id: copies of one (project, message id) count and list once in
// every read over the distinct ids that hold them (db/clickhouse collapses them; the last copy
// received wins), so retries never inflate a profile's eventCount or history. A request without a
// message id gets a fresh random one from the server, so a client that retries such a request
// after a lost answer stores the event twice. SDKs should always send a message id.
//
// An Append that fails (or whose context ends) may still have committed: the answer was lost,
// not necessarily the events. Retrying with the same message ids is always safe.
//
// # Limits
//
// Every limit is refused with invalid_argument naming the field. The request body as a whole
// is bounded by the transport: mount the handler with connect.WithReadMaxBytes(MaxRequestBytes).
package events

import (
	"time"

	"github.com/poluruprvn/profiles/identity"
)

const (
	// MaxNameBytes bounds an event name ("event"). Names are printable UTF-8.
	MaxNameBytes = 200

	// MaxMessageIDBytes bounds a client's message id ("messageId"), as for Identify.
	MaxMessageIDBytes = identity.MaxIDBytes

	// MaxEventBytes bounds one event as stored: its properties encoded as JSON (EncodeProperties)
	// plus its name and ids. Over it, "properties" is refused, the one part without its own bound.
	// 32 KiB keeps thousands of events in one Postgres row and a ClickHouse row cheap.
	MaxEventBytes = 32 << 10

	// MaxBatchEvents bounds the events of one TrackBatch request ("events").
	MaxBatchEvents = 500

	// MaxBatchBytes bounds the stored size (as MaxEventBytes counts it) of one TrackBatch
	// request: 500 KiB, as Segment's batch API; 500 full-size events would be 16 MiB.
	MaxBatchBytes = 512 << 10

	// MaxRequestBytes is the request body limit to mount the handler with: MaxBatchBytes and
	// room for the protobuf or JSON framing around it. It equals the server's default
	// MAX_REQUEST_BYTES (cmd/profiles), so that default admits every valid batch; a body over
	// it gets resource_exhausted from the transport before any validation.
	MaxRequestBytes = 1 << 20

	// MaxClockSkew is how far in the future a client timestamp may be.
	MaxClockSkew = 24 * time.Hour
)

// MinTimestamp is the earliest client timestamp accepted. ClickHouse's DateTime stores 1970 to
// 2106; anything before 2000 is a client clock that was never set.
var MinTimestamp = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// PropertyLimits are identity's trait limits applied to event properties (key count, key and
// string sizes, nesting depth); the budget of their total size is MaxEventBytes, which the exact
// encoded size is checked against as well.
var PropertyLimits = identity.Limits{
	MaxTraits:      identity.DefaultLimits.MaxTraits,
	MaxKeyBytes:    identity.DefaultLimits.MaxKeyBytes,
	MaxValueBytes:  identity.DefaultLimits.MaxValueBytes,
	MaxDepth:       identity.DefaultLimits.MaxDepth,
	MaxTraitsBytes: MaxEventBytes,
}
