package jobs

import (
	"github.com/riverqueue/river"

	"github.com/poluruprvn/profiles/identity"
)

// Register adds every worker to workers.
func Register(workers *river.Workers, batcher *Batcher[identity.Change], pruner Pruner, eventBatches *EventBatchWorker) {
	river.AddWorker(workers, &ProjectionWorker{Batcher: batcher})
	river.AddWorker(workers, &PruneWorker{Pruner: pruner})
	river.AddWorker(workers, eventBatches)
}
