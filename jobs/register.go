package jobs

import (
	"github.com/riverqueue/river"

	"github.com/poluruprvn/profiles/identity"
)

// Register adds every worker to workers.
func Register(workers *river.Workers, batcher *Batcher[identity.Change], pruner Pruner, queues *AnalyzeWorker, eventBatches *EventBatchWorker) {
	RegisterProjection(workers, batcher)
	river.AddWorker(workers, &PruneWorker{Pruner: pruner})
	river.AddWorker(workers, queues)
	river.AddWorker(workers, eventBatches)
}

// RegisterProjection adds the projection's workers: for its jobs, and for those that earlier
// releases left queued.
func RegisterProjection(workers *river.Workers, batcher *Batcher[identity.Change]) {
	river.AddWorker(workers, &ProjectionWorker[ProjectionArgs]{Batcher: batcher})
	river.AddWorker(workers, &ProjectionWorker[LegacyProjectionArgs]{Batcher: batcher})
}
