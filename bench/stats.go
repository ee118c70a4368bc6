package bench

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Result is one scenario's figures.
type Result struct {
	Name      string  `json:"name"`
	Codec     string  `json:"codec,omitempty"` // "json" or "binary"; empty for baselines and lags
	Clients   int     `json:"clients"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"perSecond"`
	Unit      string  `json:"unit"` // what PerSecond counts: "requests", "rows", "events"
	P50       float64 `json:"p50Ms"`
	P95       float64 `json:"p95Ms"`
	P99       float64 `json:"p99Ms"`
	Max       float64 `json:"maxMs"`
	// Baseline and Ratio compare the path with the raw store rate measured in the same run.
	Baseline string  `json:"baseline,omitempty"`
	Ratio    float64 `json:"ratioToBaseline,omitempty"`
	// LoadPerSecond is, for a lag probe or identify-flood, the rate of the load that ran
	// meanwhile, in LoadUnit.
	LoadPerSecond float64 `json:"loadPerSecond,omitempty"`
	LoadUnit      string  `json:"loadUnit,omitempty"`
	// ServerRSSMiB is the largest resident memory of the server while the scenario ran.
	ServerRSSMiB float64 `json:"serverRssMiB,omitempty"`
	// FirstError is one error message, to tell what failed.
	FirstError string `json:"firstError,omitempty"`
}

func (r Result) String() string {
	name := r.Name
	if r.Codec != "" {
		name += " (" + r.Codec + ")"
	}
	s := fmt.Sprintf("%-24s %8.0f %s/s  p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  max %8.2f ms  n=%d errors=%d",
		name, r.PerSecond, r.Unit, r.P50, r.P95, r.P99, r.Max, r.Requests, r.Errors)
	if r.ServerRSSMiB > 0 {
		s += fmt.Sprintf("  rss %.0f MiB", r.ServerRSSMiB)
	}
	if r.Baseline != "" {
		s += fmt.Sprintf("  (%.3gx of %s)", r.Ratio, r.Baseline)
	}
	if r.LoadPerSecond > 0 {
		s += fmt.Sprintf("  (under %.0f %s/s of load)", r.LoadPerSecond, r.LoadUnit)
	}
	if r.FirstError != "" {
		s += "\n    first error: " + r.FirstError
	}
	return s
}

// recorder collects latencies from many goroutines.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	units     int
	errors    int
	firstErr  string
}

func (r *recorder) observe(d time.Duration, units int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		return
	}
	r.latencies = append(r.latencies, d)
	r.units += units
}

func (r *recorder) result(name, unit string, clients int, elapsed time.Duration) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(r.latencies)
	pct := func(p float64) float64 {
		if len(r.latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(r.latencies)-1))
		return float64(r.latencies[i]) / float64(time.Millisecond)
	}
	return Result{
		Name: name, Clients: clients, Requests: len(r.latencies) + r.errors, Errors: r.errors,
		Seconds: elapsed.Seconds(), PerSecond: float64(r.units) / elapsed.Seconds(), Unit: unit,
		P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), Max: pct(1), FirstError: r.firstErr,
	}
}
