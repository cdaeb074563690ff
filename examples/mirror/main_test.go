package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}

// TestMirrors: the command, in front of an embedded primary, copies a write to the
// shadow and logs its counters.
func TestMirrors(t *testing.T) {
	t.Parallel()
	shadow := redistest.Start(t)
	at, logs := clitest.Start(t, run, "-shadow", shadow.Addr(), "-stats-every", "10ms")
	c := proxytest.Dial(t, at.String())
	if v := c.Do("SET", "a", "1"); string(v.Str) != "OK" {
		t.Fatalf("SET: %v", v)
	}
	deadline := time.Now().Add(proxytest.Timeout)
	for shadow.Client().Get(context.Background(), "a").Val() != "1" || !strings.Contains(logs.String(), "sent=1 matched=1") {
		if time.Now().After(deadline) {
			t.Fatalf("the shadow lacks a=1, or the log does not count it:\n%s", logs)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil, // no -shadow
		{"-shadow", "127.0.0.1:1", "-max-inflight", "-1"},
	} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("run %v succeeded, want an error", args)
		}
	}
}
