package router

import (
	"context"
	"fmt"

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
// Learn waits for the reply, or for ctx to end: call it at start, before the proxy
// serves, and not on an event loop. Safe from any goroutine.
func Learn(ctx context.Context, b backend.Backend) (int, error) {
	type result struct {
		v   resp.Value
		err error
	}
	ch := make(chan result, 1)
	b.Send(ctx, resp.NewCommand("COMMAND"), func(v resp.Value, err error) {
		ch <- result{v.Clone(), err} // the reply is borrowed: keep a copy
	})
	select {
	case r := <-ch:
		if r.err != nil {
			return 0, fmt.Errorf("router: learn: COMMAND: %w", r.err)
		}
		return command.Learn(r.v)
	case <-ctx.Done():
		return 0, fmt.Errorf("router: learn: COMMAND: %w", ctx.Err())
	}
}
