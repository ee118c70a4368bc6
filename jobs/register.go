package jobs

import "github.com/riverqueue/river"

// Register adds every worker to workers.
func Register(workers *river.Workers, batcher *Batcher, pruner Pruner, eventBatches *EventBatchWorker) {
	river.AddWorker(workers, &ProjectionWorker{Batcher: batcher})
	river.AddWorker(workers, &PruneWorker{Pruner: pruner})
	river.AddWorker(workers, eventBatches)
}
