package router

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// Learn asks b which commands its server has (COMMAND) and teaches them to the command
// model (command.Learn): module commands, and those of a Redis newer than the model's
// table, then get routed by what their flags say, and a command the server does not
// have is answered with Redis's unknown-command error by the proxy. Without it, a
// command the model does not know runs on a server connection of the client's own.
// It returns how many commands the model did not know.
//
// It also reads the server's version and role (INFO server replication), which HELLO
// then reports.
//
// Learn waits for the replies, or for ctx to end: call it at start, before the proxy
// serves, and not on an event loop. Safe from any goroutine.
func Learn(ctx context.Context, b backend.Backend) (int, error) {
	info, err := ask(ctx, b, "INFO", "server", "replication")
	if err != nil {
		return 0, err
	}
	if d, err := info.Decode(); err == nil && !d.IsError() {
		for _, line := range strings.Split(string(d.Str), "\n") {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "redis_version:"); ok && v != "" {
				version.Store(&v)
			}
			if v, ok := strings.CutPrefix(line, "role:"); ok {
				replica.Store(v == "slave")
			}
		}
	}
	v, err := ask(ctx, b, "COMMAND")
	if err != nil {
		return 0, err
	}
	return command.Learn(v)
}

// ask sends args to b and waits for the reply, or for ctx to end.
func ask(ctx context.Context, b backend.Backend, args ...string) (resp.Value, error) {
	type result struct {
		v   resp.Value
		err error
	}
	ch := make(chan result, 1)
	b.Send(ctx, resp.NewCommand(args...), func(v resp.Value, err error) {
		ch <- result{v.Clone(), err} // the reply is borrowed: keep a copy
	})
	select {
	case r := <-ch:
		if r.err != nil {
			return resp.Value{}, fmt.Errorf("router: learn: %s: %w", args[0], r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return resp.Value{}, fmt.Errorf("router: learn: %s: %w", args[0], ctx.Err())
	}
}

// version is the server's version, as Learn read it.
var version atomic.Pointer[string]

// replica is whether the server is a replica, as Learn read it.
var replica atomic.Bool

// serverVersion is the version HELLO reports: the server's, once Learn read it, else
// the oldest Redis the proxy serves.
func serverVersion() string {
	if v := version.Load(); v != nil {
		return *v
	}
	return "7.0.0"
}

// serverRole is the role HELLO reports: "replica" when Learn found the server to be
// one, else "master".
func serverRole() string {
	if replica.Load() {
		return "replica"
	}
	return "master"
}
