package events

import (
	"context"
	"time"
)

// Service accepts events and hands them to an Ingester.
type Service struct {
	ingester Ingester
}

// NewService returns a Service that stores through ingester.
func NewService(ingester Ingester) *Service {
	return &Service{ingester: ingester}
}

// Track accepts one event of project projectID and returns once it is durable. Errors: a
// *identity.FieldError (identity.ErrInvalid), ErrNoProject, or the Ingester's.
func (s *Service) Track(ctx context.Context, projectID string, e Event) error {
	if projectID == "" {
		return ErrNoProject
	}
	accepted, err := Accept(projectID, e, time.Now().UTC())
	if err != nil {
		return err
	}
	return s.ingester.Append(ctx, []Event{accepted})
}

// TrackBatch accepts all of es or none (AcceptBatch), and returns how many it stored once they
// are durable. An empty batch stores nothing and succeeds.
func (s *Service) TrackBatch(ctx context.Context, projectID string, es []Event) (int, error) {
	if projectID == "" {
		return 0, ErrNoProject
	}
	accepted, err := AcceptBatch(projectID, es, time.Now().UTC())
	if err != nil || len(accepted) == 0 {
		return 0, err
	}
	if err := s.ingester.Append(ctx, accepted); err != nil {
		return 0, err
	}
	return len(accepted), nil
}
