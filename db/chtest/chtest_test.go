package chtest

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/poluruprvn/profiles/db/clickhouse"
)

func TestNewGivesAMigratedDatabaseAndDropsIt(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("user", func(t *testing.T) {
		conn := New(t)
		ctx := context.Background()
		if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "test_testnewgivesamigrateddatabaseanddr") {
			t.Errorf("database %q does not start with test_ and the test's name", name)
		}
		st, err := clickhouse.Status(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			if !s.Applied {
				t.Errorf("migration %s not applied in a New database", s.Name)
			}
		}
	})
	admin := New(t)
	var n uint64
	if err := admin.QueryRow(context.Background(), "SELECT count() FROM system.databases WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended, want it dropped", name)
	}
}

func TestNewDatabasesAreDistinct(t *testing.T) {
	t.Parallel()
	a, b := NewEmpty(t), NewEmpty(t)
	var na, nb string
	_ = a.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&na)
	_ = b.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&nb)
	if na == nb || na == "" {
		t.Errorf("two databases of one test are %q and %q, want two distinct names", na, nb)
	}
}

// fatalTB records the first Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper()        {}
func (f *fatalTB) Name() string   { return "TestUnreachable" }
func (f *fatalTB) Cleanup(func()) {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestUnreachableServerFailsWithInstructions(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := "clickhouse://127.0.0.1:" + strconv.Itoa(port) + "/profiles"

	fake := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		newOn(fake, url)
	}()
	<-done
	if fake.msg == "" {
		t.Fatal("New on an unreachable server returned, want t.Fatal")
	}
	for _, want := range []string{"127.0.0.1:" + strconv.Itoa(port), "scripts/setup.sh"} {
		if !strings.Contains(fake.msg, want) {
			t.Errorf("failure %q does not mention %q", fake.msg, want)
		}
	}
}
