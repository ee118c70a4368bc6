package jobs

import (
	"context"
	"fmt"

	"github.com/poluruprvn/profiles/events"
)

// EventAnnouncer tells the readers of event figures which distinct ids have new events, once
// those are readable: serving processes keep figures cached until then (profiles.FigureCache).
// postgres.FigureFeed implements it.
type EventAnnouncer interface {
	// EventsStored announces that events of subjects are stored and readable.
	EventsStored(ctx context.Context, subjects []events.Subject) error
}

// AnnouncingSink is an EventSink that announces the subjects of every write it stored: one
// announcement per shared insert, not per job. A failed announcement fails the write, so every
// job it carried runs again, inserts again (rows collapse by message id) and announces again.
type AnnouncingSink struct {
	EventSink
	Announcer EventAnnouncer
}

// WriteEvents implements EventSink.
func (s AnnouncingSink) WriteEvents(ctx context.Context, recs []events.Record) error {
	if err := s.EventSink.WriteEvents(ctx, recs); err != nil {
		return err
	}
	if err := s.Announcer.EventsStored(ctx, subjectsOf(recs)); err != nil {
		return fmt.Errorf("announce stored events: %w", err)
	}
	return nil
}
