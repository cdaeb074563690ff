package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}

// burst pipelines n INCRs and returns how many went through and how many were refused.
func burst(t *testing.T, addr string, n int) (passed, refused int) {
	t.Helper()
	c := proxytest.Dial(t, addr)
	cmds := make([][]string, n)
	for i := range cmds {
		cmds[i] = []string{"INCR", "n"}
	}
	c.Send(cmds...)
	for i := range n {
		v := c.Read()
		switch {
		case v.Type == resp.TypeInteger:
			passed++
		case v.IsError() && strings.HasPrefix(string(v.Str), "ERR rate limit exceeded"):
			refused++
		default:
			t.Fatalf("reply %d: %s", i, v)
		}
	}
	return passed, refused
}

// TestRejectBurst: a burst over the limit gets some errors.
func TestRejectBurst(t *testing.T) {
	t.Parallel()
	at, logs := clitest.Start(t, run, "-rate", "10", "-burst", "5", "-per", "ip", "-mode", "reject")
	addr := at.String()
	passed, refused := burst(t, addr, 50)
	if passed < 5 || refused == 0 {
		t.Errorf("50 pipelined INCRs at 10/s burst 5: %d through, %d refused; want at least 5 through and some refused", passed, refused)
	}
	for _, want := range []string{"embedded", "listening", "per=ip", "mode=reject"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
}

// TestDelay: in delay mode a small burst over the limit all goes through.
func TestDelay(t *testing.T) {
	t.Parallel()
	at, _ := clitest.Start(t, run, "-rate", "200", "-burst", "5", "-per", "conn", "-mode", "delay", "-max-delay", "1s")
	addr := at.String()
	if passed, refused := burst(t, addr, 20); passed != 20 || refused != 0 {
		t.Errorf("20 pipelined INCRs in delay mode: %d through, %d refused; want all through", passed, refused)
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-per", "host"},
		{"-mode", "wait"},
		{"-rate", "0"},
		{"-burst", "0"},
	} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("run %v succeeded, want an error", args)
		}
	}
}
