package events

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/poluruprvn/profiles/identity"
)

// Sentinels of this package and of the adapters that implement its interfaces. Validation
// errors are identity's (*identity.FieldError wrapping identity.ErrInvalid), so every API
// names a bad field the same way.
var (
	// ErrUnavailable means storage could not take the events; the client should retry (with
	// the same message ids).
	ErrUnavailable = errors.New("event storage unavailable")
	// ErrCorrupt means stored events cannot be decoded: a damaged row, or one written in a
	// format this binary does not know (a newer release). Retrying may help only in the
	// second case, so workers retry it a bounded number of times.
	ErrCorrupt = errors.New("stored events cannot be decoded")
	// ErrNoProject means a request reached the service without an authenticated project.
	ErrNoProject = errors.New("no authenticated project")
)

// codes maps errors to Connect codes. Anything not listed is internal: the client gets a
// generic message and the details go to the log.
var codes = []struct {
	err  error
	code connect.Code
}{
	{identity.ErrInvalid, connect.CodeInvalidArgument},
	{ErrNoProject, connect.CodeUnauthenticated},
	{ErrUnavailable, connect.CodeUnavailable},
	{context.Canceled, connect.CodeCanceled},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded},
}

// toConnect translates err for the client and logs it: client errors at warn, ours at error.
// Only a field error's own text reaches the client; storage details stay in the log.
func toConnect(ctx context.Context, logger *slog.Logger, procedure string, err error) error {
	for _, c := range codes {
		if !errors.Is(err, c.err) {
			continue
		}
		level := slog.LevelWarn
		if c.code == connect.CodeUnavailable {
			level = slog.LevelError
		}
		logger.Log(ctx, level, "request failed", "procedure", procedure, "code", c.code.String(), "err", err)
		switch c.code {
		case connect.CodeInvalidArgument:
			var fe *identity.FieldError
			if errors.As(err, &fe) {
				return connect.NewError(c.code, fe)
			}
		case connect.CodeUnavailable:
			return connect.NewError(c.code, errors.New("event storage temporarily unavailable, retry with the same message ids"))
		}
		return connect.NewError(c.code, c.err)
	}
	logger.ErrorContext(ctx, "request failed", "procedure", procedure, "code", "internal", "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
