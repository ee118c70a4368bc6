package bench

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/poluruprvn/profiles/identity"
)

// This file is what the seed loads, as pure functions of (seed, profile index): the profile
// pipeline (Postgres, ClickHouse projection) and the event pipeline both call describe(i) and
// get the same distinct ids without sharing memory, so each runs at its own pace. Only profile
// ids (identity.NewProfileID, crypto/rand) and merge winners differ between two runs.

// profileKind is what became of a seeded profile.
type profileKind uint8

const (
	kindIdentified profileKind = iota // external id, live
	kindAnonymous                     // anonymous ids only, live
	kindMerged                        // anonymous, merged into an earlier identified profile
	kindDeleted                       // identified, soft-deleted
)

// Shares of the seeded profiles, as cumulative thresholds of one uniform draw: 2% deleted and
// 68% live identified (70% with an external id), 5% merged away and 25% live anonymous.
const (
	shareDeleted   = 0.02
	shareMerged    = 0.05
	shareAnonymous = 0.25
)

// Windows: profiles were created over the last year, events happened over the last 180 days.
const (
	profileWindow = 365 * 24 * time.Hour
	eventWindow   = 180 * 24 * time.Hour
)

// seedProfile is one profile's identity, derived from (seed, index) alone.
type seedProfile struct {
	index       int
	kind        profileKind
	externalID  string   // "" for anonymous and merged profiles
	distinctIDs []string // the external id first, then anonymous ids
	createdAt   time.Time
	changedAt   time.Time // when it was merged or deleted; createdAt otherwise
	rng         *rand.Rand
}

// seedSpace fixes what describe derives from.
type seedSpace struct {
	seed     uint64
	profiles int
	now      time.Time
}

func (s seedSpace) describe(i int) seedProfile {
	rng := rand.New(rand.NewPCG(s.seed, uint64(i)))
	p := seedProfile{index: i, rng: rng}
	switch r := rng.Float64(); {
	case r < shareDeleted:
		p.kind = kindDeleted
	case r < shareDeleted+shareMerged:
		p.kind = kindMerged
	case r < shareDeleted+shareMerged+shareAnonymous:
		p.kind = kindAnonymous
	default:
		p.kind = kindIdentified
	}
	// Creation times grow with the index, so profile ids (time-prefixed) arrive in order and
	// the primary key is appended to rather than split at random.
	start := s.now.Add(-profileWindow)
	step := float64(profileWindow) / float64(max(s.profiles, 1))
	p.createdAt = start.Add(time.Duration((float64(i) + rng.Float64()) * step)).Truncate(time.Microsecond)
	p.changedAt = p.createdAt
	anon := 1 // anonymous profiles: 1 or 2 anonymous ids; identified: 0 to 2 besides the external id
	if p.kind == kindIdentified || p.kind == kindDeleted {
		p.externalID = "user-" + strconv.Itoa(i)
		p.distinctIDs = append(p.distinctIDs, p.externalID)
		anon = [...]int{0, 0, 1, 1, 2}[rng.IntN(5)]
	} else if rng.IntN(5) == 0 {
		anon = 2
	}
	for k := range anon {
		p.distinctIDs = append(p.distinctIDs, anonymousID(s.seed, i, k))
	}
	if p.kind == kindMerged || p.kind == kindDeleted {
		p.changedAt = p.createdAt.Add(time.Duration(rng.Float64() * float64(s.now.Sub(p.createdAt)))).Truncate(time.Microsecond)
	}
	return p
}

// anonymousID is a UUID-shaped id, as browser SDKs make them, derived from (seed, i, k).
func anonymousID(seed uint64, i, k int) string {
	r := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(i)<<2|uint64(k)))
	var b [16]byte
	for j := 0; j < 16; j += 8 {
		v := r.Uint64()
		for n := range 8 {
			b[j+n] = byte(v >> (8 * n))
		}
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// seedTraits are one profile's traits as the SDK set them and the server-side overrides.
type seedTraits struct {
	traits, overrides identity.Traits
}

// traitsOf draws the traits of p from p.rng (after describe's draws, so always the same ones).
func traitsOf(p seedProfile) seedTraits {
	rng := p.rng
	if p.externalID == "" {
		t := identity.Traits{}
		if rng.IntN(5) > 0 {
			t["country"] = pick(rng, countries)
			t["utm_source"] = pick(rng, utmSources)
		}
		return seedTraits{traits: t}
	}
	first, last := pick(rng, firstNames), lastName(rng)
	t := identity.Traits{
		"email":   fmt.Sprintf("user%d@example.com", p.index),
		"name":    first + " " + last,
		"plan":    weighted(rng, plans),
		"company": pick(rng, companyHeads) + " " + pick(rng, companyTails),
		"country": weighted(rng, countryWeights),
		"signup":  p.createdAt.UTC().Format(time.RFC3339),
		"age":     float64(18 + rng.IntN(63)),
	}
	var tags []any
	for _, tag := range tagNames {
		if rng.IntN(6) == 0 {
			tags = append(tags, tag)
		}
	}
	if tags != nil {
		t["tags"] = tags
	}
	st := seedTraits{traits: t}
	if rng.IntN(100) == 0 { // 1%: support moved them to enterprise by hand
		st.overrides = identity.Traits{"plan": "enterprise"}
	}
	return st
}

// eventCounts draws each profile's number of events from a log-normal distribution (median
// about 5, heavy users up to a few thousand) and scales them to add up to exactly total.
func eventCounts(seed uint64, profiles, total int) []int32 {
	const sigma = 1.2
	mu := math.Log(float64(total)/float64(max(profiles, 1))) - sigma*sigma/2
	raw := make([]float64, profiles)
	var sum float64
	for i := range raw {
		rng := rand.New(rand.NewPCG(seed^0x5bd1e995, uint64(i)))
		raw[i] = math.Exp(mu + sigma*rng.NormFloat64())
		sum += raw[i]
	}
	counts := make([]int32, profiles)
	var cum float64
	done := 0
	for i, r := range raw {
		cum += r * float64(total) / sum
		n := min(int(math.Round(cum)), total) - done
		counts[i] = int32(max(n, 0))
		done += int(counts[i])
	}
	if profiles > 0 {
		counts[profiles-1] += int32(total - done)
	}
	return counts
}

// eventKind is one event name with its share and ready-made properties.
type eventKind struct {
	name   string
	weight int
	props  []string // JSON objects; one is picked per event
}

// eventKinds are rendered once per seed: events pick among them, so generating ten million
// events encodes no JSON.
func eventKinds(seed uint64) []eventKind {
	rng := rand.New(rand.NewPCG(seed, 0xe7e7))
	render := func(n int, f func() map[string]any) []string {
		out := make([]string, n)
		for i := range out {
			b, _ := json.Marshal(f())
			out[i] = string(b)
		}
		return out
	}
	paths := []string{"/", "/pricing", "/docs", "/blog", "/signup", "/login", "/settings", "/dashboard", "/integrations", "/changelog"}
	return []eventKind{
		{"page_view", 45, render(64, func() map[string]any {
			return map[string]any{"path": pick(rng, paths), "referrer": pick(rng, utmSources), "duration_ms": float64(rng.IntN(60000))}
		})},
		{"screen_view", 10, render(32, func() map[string]any {
			return map[string]any{"screen": pick(rng, []string{"home", "feed", "profile", "settings", "search"}), "app_version": fmt.Sprintf("3.%d.%d", rng.IntN(12), rng.IntN(10))}
		})},
		{"button_clicked", 15, render(32, func() map[string]any {
			return map[string]any{"button": pick(rng, []string{"upgrade", "invite", "export", "share", "save", "cancel"}), "path": pick(rng, paths)}
		})},
		{"signed_in", 8, render(4, func() map[string]any {
			return map[string]any{"method": pick(rng, []string{"password", "google", "github", "sso"})}
		})},
		{"search", 7, render(64, func() map[string]any {
			return map[string]any{"query": pick(rng, []string{"billing", "api key", "export csv", "webhooks", "sso", "invoice", "team"}), "results": float64(rng.IntN(50))}
		})},
		{"added_to_cart", 6, render(32, func() map[string]any {
			return map[string]any{"sku": fmt.Sprintf("SKU-%04d", rng.IntN(5000)), "price": float64(rng.IntN(20000)) / 100}
		})},
		{"purchase", 3, render(64, func() map[string]any {
			return map[string]any{"amount": float64(rng.IntN(50000)) / 100, "currency": pick(rng, []string{"USD", "EUR", "GBP"}), "items": float64(1 + rng.IntN(5))}
		})},
		{"feature_used", 6, render(16, func() map[string]any {
			return map[string]any{"feature": pick(rng, []string{"reports", "alerts", "segments", "funnels", "exports"})}
		})},
	}
}

func pickEvent(rng *rand.Rand, kinds []eventKind, totalWeight int) *eventKind {
	n := rng.IntN(totalWeight)
	for i := range kinds {
		if n < kinds[i].weight {
			return &kinds[i]
		}
		n -= kinds[i].weight
	}
	return &kinds[len(kinds)-1]
}

// messageID is 96 random bits in hex, as SDKs send them.
func messageID(rng *rand.Rand) string {
	var b [12]byte
	v, w := rng.Uint64(), rng.Uint32()
	for n := range 8 {
		b[n] = byte(v >> (8 * n))
	}
	for n := range 4 {
		b[8+n] = byte(w >> (8 * n))
	}
	return "msg_" + hex.EncodeToString(b[:])
}

func pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }

type weightedValue struct {
	value  string
	weight int
}

func weighted(rng *rand.Rand, from []weightedValue) string {
	total := 0
	for _, w := range from {
		total += w.weight
	}
	n := rng.IntN(total)
	for _, w := range from {
		if n < w.weight {
			return w.value
		}
		n -= w.weight
	}
	return from[len(from)-1].value
}

// lastName is one of 40 * 20 * 10 = 8,000 made-up surnames: with 120 first names, a full name
// is shared by one or two seeded profiles, so a name search matches a few.
func lastName(rng *rand.Rand) string {
	return pick(rng, nameHeads) + pick(rng, nameMids) + pick(rng, nameTails)
}

var (
	plans = []weightedValue{{"free", 60}, {"pro", 30}, {"enterprise", 10}}

	countryWeights = []weightedValue{
		{"US", 30}, {"GB", 8}, {"DE", 8}, {"IN", 8}, {"FR", 6}, {"BR", 5}, {"CA", 5}, {"JP", 4}, {"AU", 3},
		{"ES", 3}, {"IT", 3}, {"MX", 3}, {"NL", 2}, {"SE", 2}, {"PL", 2}, {"KR", 2}, {"NG", 2}, {"AR", 2},
		{"SG", 1}, {"ZA", 1},
	}
	countries  = []string{"US", "GB", "DE", "IN", "FR", "BR", "CA", "JP", "AU", "ES", "IT", "MX", "NL", "SE", "PL"}
	utmSources = []string{"google", "facebook", "twitter", "linkedin", "newsletter", "direct", "producthunt", "reddit"}
	tagNames   = []string{"beta", "newsletter", "vip", "mobile", "trial", "churn-risk", "referral", "early-adopter"}

	firstNames = []string{
		"Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "James",
		"Isabella", "William", "Mia", "Benjamin", "Charlotte", "Lucas", "Harper", "Henry", "Evelyn", "Theodore",
		"Luna", "Jack", "Camila", "Levi", "Gianna", "Alexander", "Elizabeth", "Jackson", "Eleanor", "Mateo",
		"Ella", "Daniel", "Abigail", "Michael", "Sofia", "Mason", "Avery", "Sebastian", "Scarlett", "Ethan",
		"Emily", "Logan", "Aria", "Owen", "Penelope", "Samuel", "Chloe", "Jacob", "Layla", "Asher",
		"Mila", "Aiden", "Nora", "John", "Hazel", "Joseph", "Madison", "Wyatt", "Ellie", "David",
		"Lily", "Leo", "Nova", "Luke", "Isla", "Julian", "Grace", "Hudson", "Violet", "Grayson",
		"Aurora", "Matthew", "Riley", "Ezra", "Zoey", "Gabriel", "Willow", "Carter", "Emilia", "Isaac",
		"Stella", "Jayden", "Zoe", "Luca", "Victoria", "Anthony", "Hannah", "Dylan", "Addison", "Lincoln",
		"Leah", "Thomas", "Lucy", "Maverick", "Eliana", "Elias", "Ivy", "Josiah", "Everly", "Charles",
		"Aiko", "Hiroshi", "Priya", "Arjun", "Wei", "Mei", "Olu", "Chidi", "Ingrid", "Lars",
		"Sven", "Freya", "Mateus", "Lucia", "Pierre", "Amelie", "Jonas", "Katarzyna", "Dmitri", "Anya",
	}
	nameHeads = []string{
		"Ab", "Bar", "Cal", "Dor", "El", "Fen", "Gar", "Hal", "Ist", "Jor", "Kel", "Lin", "Mar", "Nor", "Ol", "Pen",
		"Quin", "Ros", "Sal", "Tor", "Ul", "Val", "Wes", "Yor", "Zan", "Bren", "Cor", "Dal", "Fair", "Gil", "Har",
		"Kin", "Lock", "Mor", "Ash", "Stan", "Thorn", "Whit", "Brook", "Hol",
	}
	nameMids = []string{
		"", "a", "e", "i", "o", "en", "er", "ing", "an", "el", "ow", "ley", "ford", "ton", "wood", "ridge",
		"field", "by", "man", "ster",
	}
	nameTails    = []string{"", "s", "son", "sen", "berg", "stein", "ez", "ini", "ova", "ard"}
	companyHeads = []string{
		"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
		"Soylent", "Vandelay", "Pied Piper", "Aperture", "Black Mesa", "Oscorp", "Nakatomi", "Gringotts", "Monarch", "Massive",
		"Blue Sun", "Dunder", "Prestige", "Sterling", "Gekko", "Virtucon", "Zorg", "Weyland", "Bluth", "Krusty",
		"Nimbus", "Quartz", "Ember", "Lumen", "Vertex", "Orbit", "Harbor", "Summit", "Cobalt", "Juniper",
	}
	companyTails = []string{"Inc", "Labs", "Systems", "Group", "Corp", "Industries", "Analytics", "Cloud", "Partners", "Studio"}
)
