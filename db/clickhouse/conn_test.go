package clickhouse_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poluruprvn/profiles/db/chtest"
	"github.com/poluruprvn/profiles/db/clickhouse"
)

func TestOpenSendsMaxExecutionTime(t *testing.T) {
	t.Parallel()
	conn := chtest.NewEmpty(t)
	if got := setting(t, conn, "max_execution_time"); got != "10" {
		t.Errorf("max_execution_time = %q, want 10 on every query by default", got)
	}
}

func TestOpenURLSettings(t *testing.T) {
	t.Parallel()
	_, dbURL := chtest.NewURL(t)
	ctx := context.Background()
	conn, err := clickhouse.Open(ctx, dbURL+"?max_execution_time=30&max_threads=2")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer conn.Close()
	if got := setting(t, conn, "max_execution_time"); got != "30" {
		t.Errorf("max_execution_time = %q, want the URL's 30", got)
	}
	if got := setting(t, conn, "max_threads"); got != "2" {
		t.Errorf("max_threads = %q, want the URL's 2", got)
	}
	if err := clickhouse.Ping(ctx, conn); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: take one, then free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	start := time.Now()
	conn, err := clickhouse.Open(context.Background(), "clickhouse://127.0.0.1:"+strconv.Itoa(port)+"/profiles")
	if err == nil {
		conn.Close()
		t.Fatal("Open on a closed port succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("error %q does not name the server", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %v to fail, want about the dial timeout or less", d)
	}
}

func TestEnsureDatabaseIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	_, dbURL := chtest.NewURL(t) // already ensured once
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = clickhouse.EnsureDatabase(ctx, dbURL) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("EnsureDatabase #%d on an existing database: %v", i, err)
		}
	}
}

func TestEnsureDatabaseRefusesUnsafeName(t *testing.T) {
	t.Parallel()
	err := clickhouse.EnsureDatabase(context.Background(), "clickhouse://127.0.0.1:9000/x%60%3B%20DROP")
	if err == nil || !strings.Contains(err.Error(), "database name") {
		t.Fatalf("EnsureDatabase with a name needing quotes = %v, want a refusal of the name", err)
	}
}
