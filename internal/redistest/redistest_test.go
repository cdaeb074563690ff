package redistest_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/internal/redistest"
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
