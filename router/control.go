package router

import (
	"context"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// control sends a command of class Control (SCRIPT KILL, FUNCTION KILL, FUNCTION STATS,
// CLIENT UNPAUSE) on a connection of its own to every server of the backend, so that it
// reaches a server whose script is running ahead of the commands queued behind that
// script, and merges the replies by the command's response policy: SCRIPT KILL
// succeeds if one server killed a script.
func (s *session) control(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info) {
	ctx = s.sendCtx(ctx)
	cmd := req.Command()
	if sd, ok := s.b.(backend.ShardDedicator); ok && sd.Shards() > 1 {
		n := sd.Shards()
		policy := c.Response
		switch policy {
		case command.ResponseDefault:
			policy = command.AllSucceeded // CLIENT UNPAUSE: everywhere
		case command.ResponseSpecial:
			policy = command.OneSucceeded // FUNCTION STATS: the first server that answers
		}
		ws := proxy.Gather(w, n, func(parts []resp.Value) resp.Value { return command.MergeReplies(policy, parts) })
		for i, pw := range ws {
			sendOnce(sd.DedicateShard(ctx, i, ignorePush), cmd, proxy.Callback(pw))
		}
		return
	}
	if s.ded == nil {
		w.WriteReply(noDedicated(c))
		return
	}
	sendOnce(s.ded.Dedicate(ctx, nil, ignorePush), cmd, proxy.Callback(w))
}

// sendOnce sends cmd on dc, and gives dc back once it is answered.
func sendOnce(dc backend.Dedicated, cmd resp.Command, done func(resp.Value, error)) {
	dc.Send(cmd, 0, func(v resp.Value, err error) {
		done(v, err)
		dc.Release()
	})
}

// ignorePush drops what a server sends unasked on a connection used for one command.
func ignorePush(resp.Value) {}
