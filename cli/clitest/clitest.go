// Package clitest runs a proxy command's run function in tests, the way httptest runs an
// http.Handler: on a free port, until the test ends, checking that it stopped gracefully.
//
// Start and Logs are safe from any goroutine; Start must be called from the test's
// goroutine, as t.Fatal requires.
package clitest

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/redchain/redchain/cli"
)

// Start runs run with "-listen 127.0.0.1:0" then args on its own goroutine, waits for it
// to be ready, and returns what it passed to ready and its log. When the test ends, it
// cancels run's context and reports an error if run returned one or if its log does not
// say "stopped". If run returns before it is ready, Start fails the test at once.
func Start[A any](t testing.TB, run cli.Run[A], args ...string) (A, *Logs) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &Logs{}
	readyc := make(chan A, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), logs, func(a A) { readyc <- a })
	}()
	var at A
	select {
	case at = <-readyc:
	case err := <-errc:
		cancel()
		t.Fatalf("run: %v\n%s", err, logs)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run returned %v", err)
		}
		if !strings.Contains(logs.String(), "stopped") {
			t.Errorf("no graceful stop in the log:\n%s", logs)
		}
	})
	return at, logs
}

// Logs is a log sink a test can read while the command writes to it. The zero value is
// empty and ready to use; it is safe from any goroutine.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the log.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
