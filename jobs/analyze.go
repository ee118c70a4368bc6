package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// QueueStats refreshes the planner's statistics of the queue tables where they no longer
// describe them (postgres.QueueStats says why that matters).
type QueueStats interface {
	AnalyzeOutgrown(ctx context.Context) (analyzed []string, err error)
}

// AnalyzeArgs is the periodic job that keeps the queue tables' statistics in step.
type AnalyzeArgs struct{}

// Kind implements river.JobArgs.
func (AnalyzeArgs) Kind() string { return "analyze_queues" }

// analyzeInterval bounds how long River's fetch may plan with statistics of an emptier table:
// each such fetch reads every job, a few dozen times a second.
const analyzeInterval = 15 * time.Second

// AnalyzeWorker analyzes the queue tables that outgrew their statistics.
type AnalyzeWorker struct {
	river.WorkerDefaults[AnalyzeArgs]
	Stats  QueueStats
	Logger *slog.Logger
}

// Work implements river.Worker.
func (w *AnalyzeWorker) Work(ctx context.Context, _ *river.Job[AnalyzeArgs]) error {
	analyzed, err := w.Stats.AnalyzeOutgrown(ctx)
	if len(analyzed) > 0 {
		w.Logger.Info("analyzed queue tables that outgrew their statistics", "tables", analyzed)
	}
	return err
}
