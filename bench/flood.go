package bench

import "context"

// flood runs new-user Identify from half the clients while the other half send TrackBatch
// requests of new visitors, whose anonymous profiles the event worker writes through the same
// identity committer: what an Identify meets while a campaign brings crowds. The result is
// Identify's; LoadPerSecond is TrackBatch's events meanwhile.
func (r *runner) flood(ctx context.Context, name string, clients int, b budget) Result {
	identifiers := max(clients/2, 1)
	done := make(chan Result, 1)
	go func() {
		done <- drive(ctx, "load", "events", max(clients-identifiers, 1), budget{d: b.d}, r.trackBatch)
	}()
	res := drive(ctx, name, "requests", identifiers, b, r.identifyNew)
	load := <-done
	res.LoadPerSecond, res.LoadUnit = load.PerSecond, load.Unit
	return res
}
