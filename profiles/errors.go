package profiles

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/poluruprvn/profiles/identity"
)

// codes maps domain errors to Connect codes. Anything not listed is internal: the client gets
// a generic message and the details go to the log.
var codes = []struct {
	err  error
	code connect.Code
}{
	{identity.ErrInvalid, connect.CodeInvalidArgument},
	{identity.ErrNotFound, connect.CodeNotFound},
	{identity.ErrBothIdentified, connect.CodeFailedPrecondition},
	{identity.ErrExternalIDTaken, connect.CodeFailedPrecondition},
	{identity.ErrContention, connect.CodeUnavailable},
	{identity.ErrUnavailable, connect.CodeUnavailable},
	{context.Canceled, connect.CodeCanceled},
	{context.DeadlineExceeded, connect.CodeDeadlineExceeded},
}

// toConnect translates err for the client and logs it: client errors at warn, ours at error.
func toConnect(ctx context.Context, logger *slog.Logger, procedure string, err error) error {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			level := slog.LevelWarn
			if c.code == connect.CodeUnavailable {
				level = slog.LevelError
			}
			logger.Log(ctx, level, "request failed", "procedure", procedure, "code", c.code.String(), "err", err)
			if c.code == connect.CodeUnavailable {
				return connect.NewError(c.code, errors.New("storage temporarily unavailable, retry"))
			}
			return connect.NewError(c.code, publicError(err))
		}
	}
	logger.ErrorContext(ctx, "request failed", "procedure", procedure, "code", "internal", "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}

// publicError keeps the domain's message (which names the field or profile) and drops the
// wrapping context that may carry storage details.
func publicError(err error) error {
	var fe *identity.FieldError
	if errors.As(err, &fe) {
		return fe
	}
	var me *identity.MergeRefusedError
	if errors.As(err, &me) {
		return me
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.err
		}
	}
	return err
}
