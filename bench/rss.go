package bench

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssSampler follows the server's resident memory during a scenario, from the
// process_resident_memory_bytes gauge of its /metrics (Prometheus' process collector), so the
// figure is the server's own wherever it runs.
type rssSampler struct {
	client *http.Client
	url    string
	every  time.Duration
}

// sample reads the gauge every s.every until stop is called, and stop returns the largest value
// seen, in MiB (0 when the server answered none).
func (s rssSampler) sample(ctx context.Context) (stop func() float64) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg   sync.WaitGroup
		peak float64
	)
	wg.Go(func() {
		tick := time.NewTicker(s.every)
		defer tick.Stop()
		for {
			if v, ok := s.read(ctx); ok && v > peak {
				peak = v
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return func() float64 {
		cancel()
		wg.Wait()
		return peak / (1 << 20)
	}
}

const rssMetric = "process_resident_memory_bytes "

func (s rssSampler) read(ctx context.Context) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return 0, false
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), rssMetric); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}
