package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/poluruprvn/profiles/db/clickhouse"
	"github.com/poluruprvn/profiles/db/postgres"
	"github.com/poluruprvn/profiles/identity"
)

// SeedConfig says what Seed loads into which project.
type SeedConfig struct {
	ProjectID string
	Profiles  int
	Events    int
	// Seed fixes every generated value but profile ids and merge winners: two loads with the
	// same seed have the same external ids, anonymous ids, traits and event counts.
	Seed uint64
	// Now ends the event window; zero means time.Now().
	Now time.Time
	// Progress receives a line every few seconds and one per finished phase; nil: none.
	Progress io.Writer
}

// SeedStats is what Seed loaded and how long it took.
type SeedStats struct {
	Profiles    int     `json:"profiles"`
	Identified  int     `json:"identified"` // live, with an external id
	Anonymous   int     `json:"anonymous"`  // live, anonymous ids only
	Merged      int     `json:"merged"`
	Deleted     int     `json:"deleted"`
	DistinctIDs int     `json:"distinctIds"`
	Events      int     `json:"events"`
	LoadSeconds float64 `json:"loadSeconds"`
	// VacuumSeconds is VACUUM ANALYZE of profiles and distinct_ids: it empties the GIN
	// indexes' pending lists and marks the pages all-visible, as a long-lived table would be.
	VacuumSeconds float64 `json:"vacuumSeconds"`
	// SettleSeconds is merging the ClickHouse tables' parts (clickhouse.SettleTables), what
	// VACUUM is for Postgres: the tables as a long-lived database holds them.
	SettleSeconds float64 `json:"settleSeconds"`
	TotalSeconds  float64 `json:"totalSeconds"`
}

// Sizes of the pipeline's units: Postgres COPY chunks, ClickHouse event inserts. Each insert
// makes a part per month it touches (18.16 refuses inserts at 300 parts in one partition), so
// event batches are large; two are written while the next is generated.
const (
	seedChunkProfiles = 50_000
	seedEventBatch    = 200_000
	seedEventWriters  = 1
	progressEvery     = 5 * time.Second
)

// seedCounters are the rows written so far, for progress lines.
type seedCounters struct {
	profiles, distinctIDs, projected, events atomic.Int64
}

// Seed loads cfg.Profiles profiles and cfg.Events events into project cfg.ProjectID, which
// must exist: Postgres profiles and distinct_ids with COPY, and the ClickHouse projection
// (distinct_id_map, profiles) and events with batch inserts. Profiles and events load in two
// independent pipelines that run at once. Versions come from a block of change_seq reserved
// before anything is written (nextval, then setval past the block), so every later change
// has a higher one; a server running meanwhile can at worst draw a number of the block for
// another row in between the two, which is harmless: versions order the changes of one row,
// and every seeded row is new.
//
// Shape of the data: 70% of profiles have an external id ("user-<n>", email
// user<n>@example.com, name, plan, company, country, signup, age, tags), 30% are anonymous;
// 5% are anonymous profiles merged into an earlier identified one (their ids now point at the
// winner), 2% are soft-deleted identified ones. Each profile has 1 to 3 distinct ids. Events
// spread over every distinct id with a heavy tail (median about 5 per profile, a few thousand
// for the heaviest), over the last 180 days, each with its own message id.
func Seed(ctx context.Context, pool *pgxpool.Pool, ch driver.Conn, cfg SeedConfig) (SeedStats, error) {
	if cfg.ProjectID == "" || cfg.Profiles <= 0 || cfg.Events < 0 {
		return SeedStats{}, errors.New("seed: needs a project, a positive number of profiles and a non-negative number of events")
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	cfg.Now = cfg.Now.UTC().Truncate(time.Second)
	start := time.Now()
	space := seedSpace{seed: cfg.Seed, profiles: cfg.Profiles, now: cfg.Now}

	// Versions: creations take base+1+i, merges and deletes base+1+N+i.
	var base int64
	if err := pool.QueryRow(ctx, `SELECT nextval('change_seq')`).Scan(&base); err != nil {
		return SeedStats{}, fmt.Errorf("seed: reserve versions: %w", err)
	}
	maxVersion := base + 2*int64(cfg.Profiles)
	if _, err := pool.Exec(ctx, `SELECT setval('change_seq', greatest((SELECT last_value FROM change_seq), $1))`, maxVersion); err != nil {
		return SeedStats{}, fmt.Errorf("seed: reserve versions: %w", err)
	}

	var counts seedCounters
	stats := SeedStats{Profiles: cfg.Profiles, Events: cfg.Events}
	stopProgress := startProgress(cfg.Progress, &counts, cfg, start)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return seedProfiles(gctx, pool, ch, cfg, space, base, &counts, &stats) })
	g.Go(func() error { return seedEvents(gctx, ch, cfg, space, &counts) })
	err := g.Wait()
	stopProgress()
	if err != nil {
		return stats, err
	}
	stats.LoadSeconds = time.Since(start).Seconds()
	progressf(cfg.Progress, "loaded %d profiles, %d distinct ids, %d events in %.1fs; VACUUM ANALYZE ...",
		stats.Profiles, stats.DistinctIDs, stats.Events, stats.LoadSeconds)

	vacuum := time.Now()
	for _, table := range []string{"profiles", "distinct_ids"} {
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
			return stats, fmt.Errorf("seed: vacuum analyze %s: %w", table, err)
		}
	}
	stats.VacuumSeconds = time.Since(vacuum).Seconds()
	progressf(cfg.Progress, "VACUUM ANALYZE in %.1fs; merging ClickHouse's parts ...", stats.VacuumSeconds)

	settle := time.Now()
	if err := clickhouse.SettleTables(ctx, ch); err != nil {
		return stats, fmt.Errorf("seed: %w", err)
	}
	stats.SettleSeconds = time.Since(settle).Seconds()
	stats.TotalSeconds = time.Since(start).Seconds()
	progressf(cfg.Progress, "parts merged in %.1fs; total %.1fs", stats.SettleSeconds, stats.TotalSeconds)
	return stats, nil
}

// profileChunk is the rows of seedChunkProfiles profiles, for every table that holds them.
type profileChunk struct {
	profiles []pgProfileRow
	ids      []pgDistinctRow
	chProfs  []clickhouse.ProfileRow
	chMaps   []clickhouse.MappingRow
}

type pgProfileRow struct {
	id, search                   string
	externalID, mergedInto       any // string or nil
	deletedAt                    any // time.Time or nil
	traits, overrides, effective []byte
	version                      int64
	createdAt, updatedAt         time.Time
}

type pgDistinctRow struct {
	distinctID, profileID string
	version               int64
}

// seedProfiles generates the profile chunks and writes each to Postgres (profiles and
// distinct_ids, one COPY each, concurrently) and to the ClickHouse projection.
func seedProfiles(ctx context.Context, pool *pgxpool.Pool, ch driver.Conn, cfg SeedConfig, space seedSpace, base int64, counts *seedCounters, stats *SeedStats) error {
	toProfiles := make(chan *profileChunk, 1)
	toIDs := make(chan *profileChunk, 1)
	toCH := make(chan *profileChunk, 1)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(toProfiles)
		defer close(toIDs)
		defer close(toCH)
		// Merge winners are drawn from the most recent identified live profiles.
		var winners [1024]string
		nWinners := 0
		for lo := 0; lo < cfg.Profiles; lo += seedChunkProfiles {
			hi := min(lo+seedChunkProfiles, cfg.Profiles)
			c := &profileChunk{}
			for i := lo; i < hi; i++ {
				p := space.describe(i)
				id := identity.NewProfileID(p.createdAt)
				kind := p.kind
				winner := ""
				if kind == kindMerged {
					if nWinners == 0 {
						kind = kindAnonymous // nobody to merge into yet
					} else {
						winner = winners[p.rng.IntN(min(nWinners, len(winners)))]
					}
				}
				addProfile(c, cfg.ProjectID, cfg.Profiles, p, kind, id, winner, base)
				switch kind {
				case kindIdentified:
					winners[nWinners%len(winners)] = id
					nWinners++
					stats.Identified++
				case kindAnonymous:
					stats.Anonymous++
				case kindMerged:
					stats.Merged++
				case kindDeleted:
					stats.Deleted++
				}
				stats.DistinctIDs += len(p.distinctIDs)
			}
			for _, out := range []chan *profileChunk{toProfiles, toIDs, toCH} {
				select {
				case out <- c:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	})
	g.Go(func() error {
		for c := range toProfiles {
			err := copyChunk(ctx, pool, "profiles", []string{"project_id", "id", "external_id", "traits", "overrides",
				"merged_into", "deleted_at", "version", "created_at", "updated_at", "effective", "search"},
				len(c.profiles), func(i int) []any {
					r := &c.profiles[i]
					return []any{cfg.ProjectID, r.id, r.externalID, r.traits, r.overrides, r.mergedInto, r.deletedAt,
						r.version, r.createdAt, r.updatedAt, r.effective, r.search}
				})
			if err != nil {
				return err
			}
			counts.profiles.Add(int64(len(c.profiles)))
		}
		return nil
	})
	g.Go(func() error {
		for c := range toIDs {
			err := copyChunk(ctx, pool, "distinct_ids", []string{"project_id", "distinct_id", "profile_id", "version"},
				len(c.ids), func(i int) []any {
					r := &c.ids[i]
					return []any{cfg.ProjectID, r.distinctID, r.profileID, r.version}
				})
			if err != nil {
				return err
			}
			counts.distinctIDs.Add(int64(len(c.ids)))
		}
		return nil
	})
	g.Go(func() error {
		for c := range toCH {
			if err := clickhouse.WriteProjection(ctx, ch, c.chMaps, c.chProfs); err != nil {
				return fmt.Errorf("seed: %w", err)
			}
			counts.projected.Add(int64(len(c.chProfs)))
		}
		return nil
	})
	err := g.Wait()
	if err == nil {
		progressf(cfg.Progress, "profiles done: %d in Postgres and ClickHouse (%d identified, %d anonymous, %d merged, %d deleted; %d distinct ids)",
			cfg.Profiles, stats.Identified, stats.Anonymous, stats.Merged, stats.Deleted, stats.DistinctIDs)
	}
	return err
}

// addProfile appends the rows of one profile to c. Versions: its creation took base+1+i, its
// merge or delete (if any) base+1+n+i, n being the number of profiles seeded.
func addProfile(c *profileChunk, projectID string, n int, p seedProfile, kind profileKind, id, winner string, base int64) {
	st := traitsOf(p)
	traits := mustJSON(st.traits)
	overrides, effective, eff := []byte("{}"), traits, st.traits
	if st.overrides != nil {
		eff = identity.Effective(st.traits, st.overrides)
		overrides, effective = mustJSON(st.overrides), mustJSON(eff)
	}
	row := pgProfileRow{
		id: id, search: postgres.SearchText(p.externalID, eff), traits: traits, overrides: overrides, effective: effective,
		version: base + 1 + int64(p.index), createdAt: p.createdAt, updatedAt: p.createdAt,
	}
	if p.externalID != "" {
		row.externalID = p.externalID
	}
	changed := base + 1 + int64(n) + int64(p.index)
	owner, idVersion := id, row.version
	switch kind {
	case kindMerged:
		row.mergedInto, row.version, row.updatedAt = winner, changed, p.changedAt
		owner, idVersion = winner, changed // a merge re-points the loser's ids at the winner
	case kindDeleted:
		row.deletedAt, row.version, row.updatedAt = p.changedAt, changed, p.changedAt
	}
	c.profiles = append(c.profiles, row)
	for _, d := range p.distinctIDs {
		c.ids = append(c.ids, pgDistinctRow{distinctID: d, profileID: owner, version: idVersion})
		c.chMaps = append(c.chMaps, clickhouse.MappingRow{ProjectID: projectID, DistinctID: d, ProfileID: owner, Version: uint64(idVersion)})
	}
	c.chProfs = append(c.chProfs, clickhouse.ProfileRow{
		ProjectID: projectID, ProfileID: id, ExternalID: p.externalID, Traits: string(effective),
		MergedInto: winner, Deleted: kind == kindDeleted, Version: uint64(row.version), UpdatedAt: row.updatedAt,
	})
}

// copyChunk writes n rows into table with one COPY in its own transaction. The settings are
// local to that transaction, so a pool shared with the baselines keeps its defaults: the GIN
// indexes' pending lists are flushed in fewer, larger merges, and the few commits do not wait
// for the disk (a crash loses the seed, not the database).
func copyChunk(ctx context.Context, pool *pgxpool.Pool, table string, columns []string, n int, row func(int) []any) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, set := range []string{
			`SET LOCAL synchronous_commit = off`,
			`SET LOCAL work_mem = '256MB'`,
			`SET LOCAL gin_pending_list_limit = '64MB'`,
		} {
			if _, err := tx.Exec(ctx, set); err != nil {
				return err
			}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return row(i), nil
		}))
		return err
	})
	if err != nil {
		return fmt.Errorf("seed: copy %d rows into %s: %w", n, table, err)
	}
	return nil
}

// seedEvents generates cfg.Events events over the distinct ids of every seeded profile and
// inserts them in batches of seedEventBatch rows. The generator appends straight into a
// prepared batch (no row structs in between) and hands it to one of seedEventWriters writers,
// so at most seedEventWriters+1 batches are in memory.
func seedEvents(ctx context.Context, ch driver.Conn, cfg SeedConfig, space seedSpace, counts *seedCounters) error {
	if cfg.Events == 0 {
		return nil
	}
	batches := make(chan driver.Batch)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		perProfile := eventCounts(cfg.Seed, cfg.Profiles, cfg.Events)
		kinds := eventKinds(cfg.Seed)
		totalWeight := 0
		for _, k := range kinds {
			totalWeight += k.weight
		}
		windowStart := cfg.Now.Add(-eventWindow)
		var batch driver.Batch
		rows := 0
		send := func() error {
			select {
			case batches <- batch:
				batch, rows = nil, 0
				return nil
			case <-ctx.Done():
				batch.Close()
				return ctx.Err()
			}
		}
		for i, n := range perProfile {
			if n == 0 {
				continue
			}
			p := space.describe(i)
			rng := rand.New(rand.NewPCG(cfg.Seed^0xe1e1, uint64(i)))
			from := windowStart
			if p.createdAt.After(from) {
				from = p.createdAt
			}
			span := float64(cfg.Now.Sub(from))
			for range n {
				if batch == nil {
					var err error
					if batch, err = ch.PrepareBatch(ctx, sqlSeedEvents); err != nil {
						return fmt.Errorf("seed: prepare events insert: %w", err)
					}
				}
				k := pickEvent(rng, kinds, totalWeight)
				ts := from.Add(time.Duration(rng.Float64() * span)).Truncate(time.Second)
				received := ts.Add(time.Duration(rng.IntN(3)) * time.Second)
				if received.After(cfg.Now) {
					received = cfg.Now
				}
				err := batch.Append(cfg.ProjectID, p.distinctIDs[rng.IntN(len(p.distinctIDs))], k.name,
					messageID(rng), k.props[rng.IntN(len(k.props))], ts, received)
				if err != nil {
					batch.Close()
					return fmt.Errorf("seed: append event: %w", err)
				}
				if rows++; rows == seedEventBatch {
					if err := send(); err != nil {
						return err
					}
				}
			}
		}
		if batch != nil {
			return send()
		}
		return nil
	})
	for range seedEventWriters {
		g.Go(func() error {
			for b := range batches {
				n := b.Rows()
				err := b.Send()
				b.Close()
				if err != nil {
					return fmt.Errorf("seed: insert %d events: %w", n, err)
				}
				counts.events.Add(int64(n))
			}
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		progressf(cfg.Progress, "events done: %d in ClickHouse", cfg.Events)
	}
	return err
}

// sqlSeedEvents is db/clickhouse's events insert (migrations/0002_events.sql).
const sqlSeedEvents = `INSERT INTO events (project_id, distinct_id, event, message_id, properties, timestamp, received_at)`

// startProgress prints the counters every progressEvery until the returned function is called.
func startProgress(w io.Writer, c *seedCounters, cfg SeedConfig, start time.Time) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				elapsed := time.Since(start).Seconds()
				ev := c.events.Load()
				progressf(w, "%5.0fs  profiles %d/%d  distinct ids %d  projected %d  events %d/%d (%.0f/s)",
					elapsed, c.profiles.Load(), cfg.Profiles, c.distinctIDs.Load(), c.projected.Load(),
					ev, cfg.Events, float64(ev)/elapsed)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("bench: encode seeded traits: " + err.Error())
	}
	return b
}
