package redistest_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartKillRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redistest.Start(t)
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Kill")
	}
	s.Kill() // a second Kill does nothing
	s.Restart()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS k after Restart = %d, %v; want 0 (persistence is off)", n, err)
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redistest.Start(t, redistest.Args("--requirepass", "pw", "--databases", "4"))
	if got := s.Password(); got != "pw" {
		t.Fatalf("Password() = %q, want pw", got)
	}
	if err := s.Client().Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with password: %v", err)
	}
	v, err := s.Client().ConfigGet(ctx, "databases").Result()
	if err != nil || v["databases"] != "4" {
		t.Fatalf("CONFIG GET databases = %v, %v; want 4", v, err)
	}
}

func TestParallelServers(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 4 {
		s := redistest.Start(t)
		if seen[s.Addr()] {
			t.Fatalf("two servers on %s", s.Addr())
		}
		seen[s.Addr()] = true
	}
}

// fatalTB records the first Fatalf and ends the goroutine that called it, as testing.T
// does, so that a test can check what a helper reports.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs fn with a fatalTB on a goroutine of its own and returns what it reported.
func fatalOf(t *testing.T, fn func(testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

// TestMissingServer checks that, with no redis-server to run, Start and StartCluster
// fail the test saying what to install, and start nothing.
func TestMissingServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(redistest.ServerEnv, "")
	for name, start := range map[string]func(testing.TB){
		"Start":        func(tb testing.TB) { redistest.Start(tb) },
		"StartCluster": func(tb testing.TB) { redistest.StartCluster(tb) },
	} {
		msg := fatalOf(t, start)
		for _, want := range []string{"redis-server", "installs nothing", "apt-get install redis-server", redistest.ServerEnv} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s without redis-server reported %q, want it to mention %q", name, msg, want)
			}
		}
	}
	t.Setenv(redistest.ServerEnv, filepath.Join(t.TempDir(), "no-such-redis-server"))
	if msg := fatalOf(t, func(tb testing.TB) { redistest.Start(tb) }); !strings.Contains(msg, "no-such-redis-server") {
		t.Errorf("Start with %s naming a missing file reported %q, want the path", redistest.ServerEnv, msg)
	}
}

// TestServerEnv checks that REDISTEST_SERVER names the binary to run.
func TestServerEnv(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	t.Setenv(redistest.ServerEnv, bin)
	if err := redistest.Start(t).Client().Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING a server started through %s: %v", redistest.ServerEnv, err)
	}
}
