package bridge

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestParseSubject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prefix, subject string
		project, kind   string // empty: refused
	}{
		{"profiles", "profiles.proj_abc.identify", "proj_abc", "identify"},
		{"profiles", "profiles.proj-1.alias", "proj-1", "alias"},
		{"acme.profiles", "acme.profiles.p1.alias", "p1", "alias"},
		{"profiles", "profiles.a.b.identify", "", ""}, // '.' in the project
		{"profiles", "profiles.*.identify", "", ""},
		{"profiles", "profiles.>.alias", "", ""},
		{"profiles", "profiles.p*.alias", "", ""},
		{"profiles", "profiles..identify", "", ""},
		{"profiles", "profiles.p1.track", "", ""},
		{"profiles", "profiles.p1", "", ""},
		{"profiles", "other.p1.identify", "", ""},
		{"profiles", "profilesx.p1.identify", "", ""},
		{"profiles", "profiles.p 1.identify", "", ""},
		{"profiles", "profiles." + strings.Repeat("p", maxProjectBytes+1) + ".identify", "", ""},
	} {
		project, kind, err := parseSubject(tc.prefix, tc.subject)
		if project != tc.project || kind != tc.kind || (tc.project == "") != errors.Is(err, errBadMessage) {
			t.Errorf("parseSubject(%q, %q) = %q, %q, %v; want %q, %q", tc.prefix, tc.subject, project, kind, err, tc.project, tc.kind)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	for delivered, want := range map[uint64]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute, 1000: time.Minute,
	} {
		if got := retryDelay(time.Second, delivered); got != want {
			t.Errorf("retryDelay(1s, %d) = %s, want %s", delivered, got, want)
		}
	}
}

func TestMessageIDChangesWithStreamIncarnation(t *testing.T) {
	t.Parallel()
	meta := &jetstream.MsgMetadata{Stream: "PROFILES", Sequence: jetstream.SequencePair{Stream: 7}, Timestamp: time.Unix(0, 1700000000123456789)}
	if got, want := messageID(meta), "nats:PROFILES:7:1700000000123456789"; got != want {
		t.Errorf("messageID = %q, want %q", got, want)
	}
	again := *meta
	again.Timestamp = again.Timestamp.Add(time.Hour) // the stream was recreated: sequence 7 again
	if messageID(&again) == messageID(meta) {
		t.Error("a recreated stream's sequence 7 got the old message id")
	}
}
