package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	profilesv1 "github.com/poluruprvn/profiles/gen/profiles/v1"
)

// sampleProfile is one live identified profile of the project, to read back.
type sampleProfile struct {
	ExternalID, Email, Name string
}

// sampleSize is how many profiles the read scenarios pick from, at random per request.
const sampleSize = 5000

// sqlSample picks live identified profiles with an email and a name at random. It reads the
// whole project once per run (a second or two at a million profiles).
const sqlSample = `SELECT external_id, effective->>'email', effective->>'name'
FROM profiles
WHERE project_id = $1 AND merged_into IS NULL AND deleted_at IS NULL AND external_id IS NOT NULL
  AND jsonb_typeof(effective->'email') = 'string' AND jsonb_typeof(effective->'name') = 'string'
ORDER BY random()
LIMIT $2`

// loadSample reads the sample once.
func (r *runner) loadSample(ctx context.Context) error {
	if r.sample != nil {
		return nil
	}
	if r.deps.Pool == nil || r.cfg.ProjectID == "" {
		return fmt.Errorf("read scenarios need a Postgres connection and the project id")
	}
	rows, err := r.deps.Pool.Query(ctx, sqlSample, r.cfg.ProjectID, sampleSize)
	if err != nil {
		return fmt.Errorf("sample profiles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s sampleProfile
		if err := rows.Scan(&s.ExternalID, &s.Email, &s.Name); err != nil {
			return fmt.Errorf("sample profiles: %w", err)
		}
		r.sample = append(r.sample, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sample profiles: %w", err)
	}
	if len(r.sample) == 0 {
		return fmt.Errorf("project %s has no live profile with an external id, an email and a name: load one with 'profiles seed'", r.cfg.ProjectID)
	}
	return nil
}

func (r *runner) pick() sampleProfile { return r.sample[rand.IntN(len(r.sample))] }

// get reads a random profile of the sample by external id: a working set of sampleSize
// profiles read again and again, whose event figures the server has cached (warm, below).
func (r *runner) get(ctx context.Context, _, _ int) (int, error) {
	_, err := r.profiles.Get(ctx, connect.NewRequest(&profilesv1.GetRequest{ExternalId: r.pick().ExternalID}))
	return 1, err
}

// warmLimit bounds the warm-up: 5,000 Gets take a second or two, from ClickHouse.
const warmLimit = time.Minute

// warm reads every profile of the sample once, unmeasured, so that get measures a working set
// and not its first reads (get-cold measures those).
func (r *runner) warm(ctx context.Context) error {
	var next atomic.Int64
	res := drive(ctx, "warm", "requests", r.cfg.Clients, budget{d: warmLimit, n: int64(len(r.sample))}, func(ctx context.Context, _, _ int) (int, error) {
		p := r.sample[next.Add(1)-1]
		_, err := r.profiles.Get(ctx, connect.NewRequest(&profilesv1.GetRequest{ExternalId: p.ExternalID}))
		return 1, err
	})
	if res.Errors > 0 {
		return fmt.Errorf("warm-up: %d of %d Gets failed: %s", res.Errors, res.Requests, res.FirstError)
	}
	return nil
}

// coldSize bounds the profiles get-cold reads, each once: more than a run of a few seconds
// reaches. get-cold runs before the other read scenarios, so nothing of the run cached their
// figures before; a run that outlasts the sample starts over on it, warm.
const coldSize = 200_000

// coldSample is a shuffled list of external ids, handed out once each.
type coldSample struct {
	ids  []string
	next atomic.Int64
}

// sqlColdSample picks live identified profiles at random.
const sqlColdSample = `SELECT external_id FROM profiles
WHERE project_id = $1 AND merged_into IS NULL AND deleted_at IS NULL AND external_id IS NOT NULL
ORDER BY random()
LIMIT $2`

func (r *runner) loadCold(ctx context.Context) error {
	if r.cold.ids != nil {
		return nil
	}
	rows, err := r.deps.Pool.Query(ctx, sqlColdSample, r.cfg.ProjectID, coldSize)
	if err != nil {
		return fmt.Errorf("sample profiles: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("sample profiles: %w", err)
	}
	if len(ids) == 0 {
		return fmt.Errorf("project %s has no live identified profile: load one with 'profiles seed'", r.cfg.ProjectID)
	}
	r.cold.ids = ids
	return nil
}

// getCold reads a profile no request of the run has read before: its event figures come from
// ClickHouse.
func (r *runner) getCold(ctx context.Context, _, _ int) (int, error) {
	id := r.cold.ids[int(r.cold.next.Add(1)-1)%len(r.cold.ids)]
	_, err := r.profiles.Get(ctx, connect.NewRequest(&profilesv1.GetRequest{ExternalId: id}))
	return 1, err
}

// listQuery searches for a full name, which matches one to a few dozen profiles: the word
// index narrows it (the end of the first name, the start of the last).
func (r *runner) listQuery(ctx context.Context, _, _ int) (int, error) {
	return 1, r.listExpect(ctx, &profilesv1.ListRequest{Query: r.pick().Name})
}

// listPart searches for a last name without its first letter, one word that may sit inside a
// longer one: the trigram index serves it.
func (r *runner) listPart(ctx context.Context, _, _ int) (int, error) {
	name := strings.Fields(r.pick().Name)
	last := []rune(name[len(name)-1])
	return 1, r.listExpect(ctx, &profilesv1.ListRequest{Query: string(last[min(1, len(last)-1):])})
}

// listEmail searches for one exact email address.
func (r *runner) listEmail(ctx context.Context, _, _ int) (int, error) {
	return 1, r.listExpect(ctx, &profilesv1.ListRequest{Query: r.pick().Email})
}

// listFilter is the trait filter plan = "pro" AND age > 40, first page and exact total: on the
// seeded data about one profile in seven matches (some 140,000 of a million).
func (r *runner) listFilter(ctx context.Context, _, _ int) (int, error) {
	return 1, r.listExpect(ctx, &profilesv1.ListRequest{Filters: []*profilesv1.TraitFilter{
		{Key: "plan", Op: profilesv1.TraitFilter_OP_EQ, Value: structpb.NewStringValue("pro")},
		{Key: "age", Op: profilesv1.TraitFilter_OP_GT, Value: structpb.NewNumberValue(40)},
	}})
}

// listExpect lists and counts a search that finds nothing as an error: every query is built
// from a profile that exists, so an empty answer is a wrong one.
func (r *runner) listExpect(ctx context.Context, req *profilesv1.ListRequest) error {
	res, err := r.profiles.List(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if res.Msg.GetTotal() == 0 || len(res.Msg.GetProfiles()) == 0 {
		return fmt.Errorf("list %q with %d filters found nothing", req.Query, len(req.Filters))
	}
	return nil
}
