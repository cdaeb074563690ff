package router

import (
	"bytes"
	"context"
	"fmt"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// A client in a transaction has its commands queued by the server, on its dedicated
// connection: the server answers +QUEUED, or refuses a command at once (an unknown
// command, a wrong number of arguments) and then fails the whole transaction at EXEC
// with EXECABORT. The session keeps to those rules for the commands the proxy handles
// itself:
//
//   - the proxy's own commands (class Local: CLIENT ID, ECHO, CLIENT SETNAME...) are
//     queued here, answered +QUEUED, and their replies put into EXEC's at their place;
//   - a command the proxy refuses (class Refused, or one it cannot run in a
//     transaction) is answered with the proxy's error, and a command the server refuses
//     at queue time is sent in its stead, so that EXEC fails as Redis's would;
//   - every other command goes to the server as it is, which queues or refuses it.
//
// A command that changes the connection's state (SELECT, AUTH, CLIENT TRACKING) runs
// at EXEC: the session then no longer knows that state, and keeps the connection for
// the client's life (untracked).

// queue routes a command of a client in a transaction; c is nil for a command the model
// does not know or that Check refused.
func (s *session) queue(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info) {
	args := req.Args()
	if c == nil {
		_, refusal := command.Check(args)
		if !isUnknownCommand(refusal) || command.ServerLacks(args[0]) {
			s.fail(ctx, w, req, refusal) // Redis's own refusal, and the transaction fails
			return
		}
		s.txLen++
		s.route(ctx, w, req, nil, command.Unclassified) // a module's command: the server queues it
		return
	}
	class := c.ClassOf(args)
	switch {
	case class == command.Local && !c.Queued():
		// RESET ends the transaction at once.
		w.WriteReply(s.local(c, args))
		return
	case class == command.Local && c.Effect == command.EffectNone:
		s.tx = append(s.tx, queuedLocal{index: s.txLen, c: c, args: cloneArgs(args)})
		s.txLen++
		w.WriteReply(resp.Queued)
		return
	case class == command.Refused && !c.Flags.Has(command.NoMulti):
		s.fail(ctx, w, req, refused(c))
		return
	case class == command.Local, c.Effect == command.EffectSubscribe, c.Effect == command.EffectUnsubscribe:
		// HELLO would change the protocol of the connection under the transaction's
		// replies; a subscription inside it, the kind of its replies.
		s.fail(ctx, w, req, resp.Error("ERR", "redchain: "+displayName(c)+" inside MULTI is not supported"))
		return
	}
	switch {
	case c.Effect == command.EffectExec && len(s.tx) > 0:
		s.exec(ctx, w, req, c)
		return
	case c.Effect == command.EffectDiscard:
		s.tx = nil
	case !c.Queued():
		// MULTI, WATCH: the server answers them at once (with an error).
	case c.Effect == command.EffectSelect, c.Effect == command.EffectSession:
		s.untracked = true // applied at EXEC, where the session cannot follow it
		s.txLen++
	default:
		s.txLen++
	}
	s.route(ctx, w, req, c, command.Dedicated)
}

// bypassedInMulti keeps the transaction as Redis would keep it when commands of the
// client were answered by a middleware before they reached the router (see
// proxy.Request.Bypassed): an EXEC or DISCARD answered so ended the transaction for the
// client, so it is discarded on the server; any other command answered so fails the
// transaction, as a command Redis refuses at queue time does.
func (s *session) bypassedInMulti(names []string) {
	for _, name := range names {
		c, ok := command.Lookup([]byte(name))
		switch {
		case ok && (c.Effect == command.EffectExec || c.Effect == command.EffectDiscard):
			s.sendDC(discardCmd, 0, nil, ignoreReply)
			s.multi, s.watch, s.tx = false, false, nil
			return
		case ok && !c.Queued():
			// MULTI, WATCH: Redis answers them at once, and they do not fail it.
		default:
			s.sendDC(poison, 0, nil, ignoreReply)
		}
	}
}

// The commands the router sends of its own on a dedicated connection.
var (
	discardCmd = resp.NewCommand("DISCARD")
	quitCmd    = resp.NewCommand("QUIT")
)

// ignoreReply is the callback of a command whose reply the client never sees.
func ignoreReply(resp.Value, error) {}

// poison is a command every server refuses at queue time (wrong number of arguments),
// failing the transaction it is sent in.
var poison = resp.NewCommand("ECHO")

// fail answers req with v, a refusal, and fails the transaction as the server fails one
// in which it refused a command: it sends poison in req's place.
func (s *session) fail(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, v resp.Value) {
	req.SetCommand(poison)
	s.route(ctx, refusalWriter{w: w, v: v}, req, echo, command.Dedicated)
}

var echo, _ = command.Lookup([]byte("echo"))

// refusalWriter writes its refusal in place of whatever the server answers.
type refusalWriter struct {
	w proxy.ReplyWriter
	v resp.Value
}

func (r refusalWriter) WriteReply(resp.Value) bool { return r.w.WriteReply(r.v) }

// exec sends EXEC for a transaction with commands the proxy answers, and puts their
// replies into EXEC's at their places, once it comes.
func (s *session) exec(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info) {
	tx := s.tx
	s.tx = nil
	s.route(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		if v.IsError() || v.IsNull() || v.Type != resp.TypeArray && v.Type != resp.TypeSet {
			return w.WriteReply(v) // EXECABORT, or WATCH failed: nothing ran
		}
		raw := bytes.Clone(v.Raw) // the reply is borrowed; the splice runs on the loop
		if raw == nil {
			raw = v.AppendTo(nil)
		}
		s.c.Post(func() { w.WriteReply(s.splice(raw, tx)) })
		return true
	}), req, c, command.Dedicated)
}

// splice inserts the replies of the transaction's local commands into the server's
// EXEC reply.
func (s *session) splice(raw []byte, tx []queuedLocal) resp.Value {
	v, err := resp.Raw(raw).Decode()
	if err != nil {
		return resp.Error("ERR", fmt.Sprintf("redchain: EXEC reply: %v", err))
	}
	out := make([]resp.Value, 0, len(v.Elems)+len(tx))
	i := 0
	for _, q := range tx {
		for len(out) < q.index && i < len(v.Elems) {
			out = append(out, v.Elems[i])
			i++
		}
		out = append(out, s.local(q.c, q.args))
	}
	out = append(out, v.Elems[i:]...)
	return resp.Array(out...)
}

// cloneArgs copies args, which belong to the request, for later.
func cloneArgs(args [][]byte) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = bytes.Clone(a)
	}
	return out
}
