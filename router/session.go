package router

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// A session is what the router knows of one client connection: its protocol, its name,
// and the state it holds on a dedicated server connection (a transaction, WATCHed keys,
// a database, subscriptions, or state the proxy does not follow). A client starts on the
// backend's shared connections; a command that needs a connection of its own borrows a
// dedicated one (backend.Dedicator), which the client keeps while it holds any state,
// and gives back at its first command once it holds none.
//
// Commands of one client go over one connection at a time, its lane, so that they run
// in order: before a command takes another lane, the commands sent on the old one must
// have been answered (a barrier on the shared connection, the replies on the dedicated
// one). Meanwhile the client is held (Conn.Hold) and its later commands wait.
//
// The state is predicted when commands are sent, as a pipelining client predicts it:
// MULTI opens a transaction at once, EXEC closes it, though their replies are still to
// come. What each command does is the command model's to say (command.Info's Class and
// Effect): the session follows it. A session is loop-only, but for its atomics.
type session struct {
	f        *Forward
	c        *proxy.Conn
	backends        // the Forward's, or those of the server's user the client logged in as
	proto    int    // 2 or 3
	name     string // CLIENT SETNAME
	lib      [2]string

	db           int // SELECTed
	multi, watch bool
	// untracked: the dedicated connection holds state the proxy does not follow
	// (CLIENT TRACKING, AUTH, SCRIPT DEBUG, a command the model does not know, a state
	// changed inside a transaction): it is the client's until RESET or the end, and is
	// closed then, never lent again.
	untracked bool
	// authing counts the logins (AUTH, HELLO AUTH) sent to the server to log in as one
	// of its users with backend.Users, not answered yet: the commands after one wait on
	// the connection it was sent on. release gives back the share of the user's backend
	// the session has since one was accepted; viaServer is whether one was.
	authing   int
	release   func()
	viaServer bool
	epoch     int           // RESETs so far: a login answered after one is forgotten
	tx        []queuedLocal // commands of the transaction the proxy answers itself
	txLen     int           // commands the transaction has queued so far

	last     *command.Info // the last command served
	mute     int           // CLIENT REPLY: muteNone, muteOff, muteSkip
	tracking bool          // CLIENT TRACKING is on
	redirect atomic.Uint64 // its REDIRECT: a proxy client ID (read by push)
	dcPub    atomic.Pointer[dcRef]

	dc         backend.Dedicated
	quitting   backend.Dedicated // dc, sent QUIT for the client's QUIT
	tunnel     backend.Tunnel    // MONITOR, SYNC, PSYNC: the client's connection is a stream now
	owned      *ownKey           // counted under OwnConnLimits: dc or tunnel is held
	replica    bool              // the stream is a replica's (SYNC, PSYNC), not MONITOR's
	dcBusy     atomic.Int64      // commands sent on dc whose replies are not in
	onDC       bool              // the last command went to dc
	sharedSent bool              // commands went to the shared connections since the last barrier
	// scripts: the session's last shared commands ran scripts, and went over the shared
	// connections of scripts (backend.WithScripts); scriptsBusy counts those not answered.
	scripts     bool
	scriptsBusy atomic.Int64
	// ownScripts counts the client's scripts not answered yet: while it has one, the
	// refusals of a busy server are not for it (see busyScripts).
	ownScripts atomic.Int32
	parked     *parked
	waiting    atomic.Bool // parked until dc's replies are in

	ctx, ctx3 context.Context // the last ctx seen, and it with protocol 3
	base      context.Context // the ctx of the client's commands (Forward.ObserveConn)
	// redirectWait: a CLIENT TRACKING ... REDIRECT waited for its redirection to get a
	// server connection of its own, and is served again (once: see connless).
	redirectWait bool
}

// queuedLocal is a command of a transaction that the proxy answers: its reply goes into
// EXEC's at index.
type queuedLocal struct {
	index int
	c     *command.Info
	args  [][]byte // a copy
}

// parked is a command waiting for its lane.
type parked struct {
	ctx     context.Context
	w       proxy.ReplyWriter
	req     *proxy.Request
	c       *command.Info // nil: unknown to the model
	class   command.Class
	release func()
}

var sessions = proxy.NewConnKey[*session]()

// bound reports whether the session is in a state bound to its dedicated connection: a
// transaction, WATCHed keys, subscriptions, a database other than 0, state the proxy
// does not follow. The fan-out then leaves its commands whole.
func (s *session) bound() bool {
	return s.dc != nil && !s.clean()
}

// Shared is the session's fan-out lane (fanout.Lane): it prepares the session for
// commands that the fan-out sends to the backend itself, the parts of a split command
// or the requests of a whole-keyspace one. It reports false when the client's commands
// must go the router's way now: a command of the client is parked, or its dedicated
// connection holds state other than a WATCH (see watchOnly) or still owes replies (a
// blocking command, an EXEC in flight),
// which a command sent elsewhere could overtake, or its shared connections of scripts
// owe replies, or the client logged in to one of the server's users (its commands must
// run as that user, not as the fan-out's backend logs in). Otherwise it gives back a
// dedicated connection the client no longer needs (but one that holds a WATCH), as
// route would, counts what follows
// as sent on the shared connections (so that a later move to a dedicated connection
// first waits for their replies), and returns ctx with the client's protocol
// (backend.WithProtocol for a RESP3 client, whose commands travel over RESP3
// connections: a part sent over a RESP2 one could overtake its earlier commands).
// Loop-only.
func (s *session) Shared(ctx context.Context) (context.Context, bool) {
	watching := s.watchOnly()
	if s.parked != nil || s.viaServer || s.dc != nil && (!s.clean() && !watching || s.dcBusy.Load() > 0) ||
		s.scripts && s.scriptsBusy.Load() > 0 {
		return ctx, false
	}
	s.scripts = false
	if !watching {
		s.giveBack()
	}
	s.onDC, s.sharedSent = false, true
	return s.sendCtx(ctx), true
}

// watchOnly reports whether the only state the session holds on its dedicated
// connection is a WATCH: its commands may then go to the shared connections too (a
// write there touches a WATCHed key as one on the dedicated connection does), and a
// multi-key command be split, a SORT read and store over the shards.
func (s *session) watchOnly() bool {
	return s.watch && !s.multi && s.db == 0 && !s.untracked && s.authing == 0 &&
		s.dc != nil && s.dc.Subscriptions() == 0
}

// clean reports whether the session holds no state on its dedicated connection.
func (s *session) clean() bool {
	return !s.stateful() && (s.dc == nil || s.dc.Subscriptions() == 0)
}

// stateful reports whether the session's commands must go to its dedicated connection
// for a state the session follows itself.
func (s *session) stateful() bool {
	return s.multi || s.watch || s.db != 0 || s.untracked || s.authing > 0
}

// open starts the session of c.
func (f *Forward) open(c *proxy.Conn) {
	s := &session{f: f, c: c, proto: 2, backends: f.backends}
	sessions.Set(c, s)
	f.clients.add(s)
	c.BeforeQuit(s.quit)
	context.AfterFunc(c.Context(), func() { c.Post(s.closed) })
}

// quit ends the session of a client that sent QUIT, and calls done once its server
// connections have ended: a dedicated connection that holds state is sent QUIT, so that
// the server has let go of that state (a subscription, a tracking redirection, a
// blocked pop) when the client learns it quit, as it has when Redis answers QUIT.
func (s *session) quit(done func()) {
	dc := s.dc
	if dc == nil || s.clean() && s.dcBusy.Load() == 0 {
		s.closed()
		done()
		return
	}
	s.setDC(nil)
	s.closed()
	s.quitting = dc // closed if the client goes before QUIT's reply
	dc.Send(quitCmd, -1, func(resp.Value, error) {
		dc.Close()
		done()
	})
}

// closed gives back or closes the dedicated connection of a client that went away: one
// that is blocked (BLPOP) or holds state is closed, so that the server pops nothing for
// nobody.
func (s *session) closed() {
	s.f.clients.remove(s)
	s.logout()
	if s.quitting != nil {
		s.quitting.Close()
	}
	if s.tunnel != nil {
		s.tunnel.Close()
		s.tunnel = nil
	}
	if s.dc == nil {
		s.dropOwn()
		return
	}
	if s.clean() && s.dcBusy.Load() == 0 {
		s.dc.Release()
	} else {
		s.dc.Close()
	}
	s.setDC(nil)
}

// giveBack gives the dedicated connection back, if the session has one.
func (s *session) giveBack() {
	if s.dc != nil {
		s.dc.Release()
		s.setDC(nil)
	}
}

// sendCtx returns ctx with the session's protocol.
func (s *session) sendCtx(ctx context.Context) context.Context {
	if s.proto != 3 {
		return ctx
	}
	if ctx != s.ctx {
		s.ctx, s.ctx3 = ctx, backend.WithProtocol(ctx, 3)
	}
	return s.ctx3
}

// sharedCtx returns ctx for the shared connections the session used last: with its
// protocol, and for those of scripts when its last commands ran scripts.
func (s *session) sharedCtx(ctx context.Context) context.Context {
	ctx = s.sendCtx(ctx)
	if s.scripts {
		ctx = backend.WithScripts(ctx)
	}
	return ctx
}

// lane is where a command goes.
type lane int

const (
	laneShared lane = iota // the backend's shared connections
	laneDC                 // the session's dedicated connection, made if needed
	laneLocal              // answered by the router
	laneStream             // a tunnel to the server (backend.Tunneler)
)

// serve routes one command by its class (see package command).
func (s *session) serve(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	if s.tunnel != nil {
		s.toTunnel(w, req)
		return
	}
	if s.multi && s.ded != nil && len(req.Bypassed()) > 0 {
		s.bypassedInMulti(req.Bypassed())
	}
	args := req.Args()
	c, refusal := command.Check(args)
	w = s.muted(w, c)
	if c != nil && s.f.busy != nil {
		if v := s.f.busy.refusal(c); v.Type != 0 && s.ownScripts.Load() == 0 {
			s.refuseBusy(ctx, w, req, c, v)
			return
		}
		if c == configSetCommand {
			w = s.f.busy.configSet(w, args)
		}
	}
	if s.multi && s.ded != nil {
		s.queue(ctx, w, req, c)
		return
	}
	if c == nil {
		if command.ServerLacks(args[0]) {
			w.WriteReply(command.UnknownCommand(args)) // rather than the model's arity error
			return
		}
		if s.ded != nil && isUnknownCommand(refusal) {
			// Not known to the model, nor to be unknown to the server (a module's
			// command, a newer Redis's): on a connection of the client's own.
			s.route(ctx, w, req, nil, command.Unclassified)
			return
		}
		w.WriteReply(refusal)
		return
	}
	s.last = c
	if s.proto == 2 && s.dc != nil && s.dc.Subscriptions() > 0 && !c.AllowedSubscribed() {
		w.WriteReply(resp.Error("ERR", fmt.Sprintf("Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", c.Name)))
		return
	}
	if s.f.fan != nil && (!s.bound() || s.watchOnly()) && s.f.fan.Serve(ctx, w, req, c, s) {
		return
	}
	if c == infoCommand {
		if _, sharded := s.b.(backend.Sharded); sharded {
			w = standaloneInfo(w)
		}
	}
	switch class := c.ClassOf(args); class {
	case command.Local:
		if probe, ok := adminProbes[c]; ok && s.viaServer {
			w := w // captured by this branch's closure alone: serve's w stays on the stack
			s.asUserMay(ctx, w, probe, func() { s.serveLocal(ctx, w, req, c) })
			return
		}
		s.serveLocal(ctx, w, req, c)
	case command.Shared, command.EveryShard:
		if s.ded == nil {
			s.b.Send(s.sendCtx(ctx), req.Command(), proxy.Callback(w))
			return
		}
		s.route(ctx, w, req, c, class)
	case command.Dedicated, command.Unclassified:
		if s.ded == nil {
			w.WriteReply(noDedicated(c))
			return
		}
		switch c {
		case trackingCommand:
			out, redirect, refusal := s.trackingArgs(args)
			if o := s.connless(refusal, redirect); o != nil {
				// The redirection has no server connection of its own yet: give it one,
				// then serve the command again.
				s.redirectWait = true
				s.whenRedirectable(o, ctx, w, req)
				return
			}
			s.redirectWait = false
			if refusal.Type != 0 {
				w.WriteReply(refusal)
				return
			}
			s.tracking = bytes.EqualFold(args[2], []byte("on"))
			s.redirect.Store(redirect)
			req.SetCommand(resp.Command{Args: out})
		case getredirCommand, trackingInfoCommand:
			w = s.serverIDsToProxy(w)
		case authCommand:
			user := "default"
			if len(args) == 3 {
				user = string(args[1])
			}
			w = s.loggingIn(w, user, args[len(args)-1])
		}
		s.route(ctx, w, req, c, class)
	case command.Control:
		s.control(ctx, w, req, c)
	case command.Stream:
		if _, ok := s.b.(backend.Tunneler); !ok && !s.mergesStream(req) {
			w.WriteReply(resp.Error("ERR", "redchain: "+displayName(c)+" needs a server connection this backend cannot give"))
			return
		}
		if sh, ok := s.b.(backend.Sharded); ok && sh.Shards() > 1 && !s.mergesStream(req) {
			// One server's stream would be a part presented as the whole.
			w.WriteReply(resp.Error("ERR", "redchain: "+displayName(c)+" streams one server, and this backend spreads the keyspace over several"))
			return
		}
		s.route(ctx, w, req, c, class)
	default: // command.Refused
		w.WriteReply(refused(c))
	}
}

// isUnknownCommand reports whether v is command.Check's unknown-command error (rather
// than an unknown subcommand or an arity error).
func isUnknownCommand(v resp.Value) bool {
	return strings.HasPrefix(string(v.Str), "ERR unknown command ")
}

// refused is the reply to a command of class Refused.
func refused(c *command.Info) resp.Value {
	return resp.Error("ERR", "command '"+c.Name+"' is not allowed through the proxy")
}

// noDedicated is the reply to a command that needs a connection of its own from a
// backend that cannot lend one.
func noDedicated(c *command.Info) resp.Value {
	name := "this command"
	if c != nil {
		name = displayName(c)
	}
	return resp.Error("ERR", "redchain: "+name+" needs a server connection of its own, which this backend cannot lend")
}

// displayName is c's name as a client writes it: "CLIENT KILL".
func displayName(c *command.Info) string {
	return strings.ToUpper(strings.ReplaceAll(c.Name, "|", " "))
}

// route sends req on its lane, or parks it until the lane is free. c is nil for a
// command the model does not know.
func (s *session) route(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info, class command.Class) {
	ln, key, timeout, v := s.lane(c, class, req.Args())
	if ln == laneLocal {
		w.WriteReply(v)
		return
	}
	if timeout != 0 {
		req.AllowReplyAfter(timeout) // a blocking command: its own timeout, not the proxy's
	}
	if s.dc != nil && (ln == laneShared || s.clean()) {
		// Leaving the dedicated connection, or starting a new state on a clean one
		// (which a cluster binds to another node): wait for its replies, then give it
		// back if the session holds nothing on it.
		if s.dcBusy.Load() > 0 {
			s.park(ctx, w, req, c, class)
			s.waiting.Store(true)
			if s.dcBusy.Load() == 0 && s.waiting.Swap(false) { // answered meanwhile
				s.c.Post(s.resume)
			}
			return
		}
		if s.clean() {
			s.giveBack()
		}
	}
	if ln == laneShared {
		scripts := c != nil && c.RunsScript()
		if scripts != s.scripts && s.barrier != nil && (s.scripts && s.scriptsBusy.Load() > 0 || !s.scripts && s.sharedSent) {
			// Moving between the shared connections of scripts and the others: let
			// the commands sent on the one it leaves be answered first.
			s.sharedSent = false
			if s.parkUntilAnswered(ctx, w, req, c, class) {
				return
			}
		}
		s.scripts = scripts
		s.onDC, s.sharedSent = false, true
		if scripts {
			s.scriptsBusy.Add(1)
			cb := proxy.Callback(s.f.busy.track(w, c, &s.ownScripts))
			s.b.Send(s.sharedCtx(ctx), req.Command(), func(v resp.Value, err error) {
				cb(v, err)
				s.scriptsBusy.Add(-1)
			})
			return
		}
		s.b.Send(s.sendCtx(ctx), req.Command(), proxy.Callback(w))
		return
	}
	// To the dedicated connection.
	if !s.onDC && s.sharedSent && s.barrier != nil {
		// Let the commands sent on the shared connection be answered first.
		s.sharedSent = false
		if s.parkUntilAnswered(ctx, w, req, c, class) {
			return
		}
	}
	if ln == laneStream {
		if v := s.takeOwn(); v.Type != 0 {
			w.WriteReply(v)
			return
		}
		s.startTunnel(ctx, w, req)
		return
	}
	if s.dc == nil {
		if v := s.takeOwn(); v.Type != 0 {
			w.WriteReply(v)
			return
		}
		s.setDC(s.ded.Dedicate(s.sendCtx(ctx), key, s.push))
	}
	s.onDC, s.sharedSent = true, false
	if c != nil && c.RunsScript() && !s.multi {
		w = s.f.busy.track(w, c, &s.ownScripts)
	}
	s.sendDC(req.Command(), timeout, s.enter(c, req.Args()), proxy.Callback(w))
}

// sendDC sends cmd on the dedicated connection; refused, if not nil, runs on the loop if
// the server answers with an error (a SELECT it refused: the database stays what it was).
func (s *session) sendDC(cmd resp.Command, timeout time.Duration, refused func(), cb func(resp.Value, error)) {
	s.dcBusy.Add(1)
	s.dc.Send(cmd, timeout, func(v resp.Value, err error) {
		switch {
		case err != nil && refused != nil:
			// Not sent, or its answer lost: a SELECT that failed so chose nothing.
			s.c.Post(func() {
				refused()
				s.lost()
			})
		case err != nil:
			s.c.Post(s.lost)
		case refused != nil && v.Type == resp.TypeError:
			s.c.Post(refused)
		}
		cb(v, err)
		if s.dcBusy.Add(-1) == 0 && s.waiting.Swap(false) {
			s.c.Post(s.resume)
		}
	})
}

// push forwards a frame the dedicated connection's server sent unasked.
func (s *session) push(v resp.Value) {
	if v.Type == resp.TypePush && bytes.Contains(v.Raw, redirBroken) {
		// Redis names the redirection by its ID on the server; the client knows the
		// proxy's.
		if d, err := v.Decode(); err == nil && d.Type == resp.TypePush && len(d.Elems) == 2 &&
			string(d.Elems[0].Str) == "tracking-redir-broken" {
			d.Elems[1] = resp.Integer(int64(s.redirect.Load()))
			v = d
		}
	}
	s.c.Push(v)
}

var redirBroken = []byte("tracking-redir-broken")

// lost handles a failure of the dedicated connection: if the session held state on
// it, the state is gone, and the client is disconnected, as it would be by a server
// that went down, once it has read the replies of the commands served so far (the
// failed ones' errors among them).
func (s *session) lost() {
	if s.dc == nil {
		return
	}
	if !s.clean() {
		s.dc.Close()
		s.setDC(nil)
		s.c.CloseAfterReplies()
		return
	}
	s.dc.Close() // a blocking command timed out or the connection broke: never reuse it
	s.setDC(nil)
}

// parkUntilAnswered parks req until the commands the session sent on the shared
// connections it used last are answered (backend.Barrierer), and reports true; or
// reports false when they are answered already, and req goes on now. Going on at once
// matters: a command posted to a later turn of the loop lets other clients' commands,
// read after it, reach the server before it.
func (s *session) parkUntilAnswered(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info, class command.Class) bool {
	var state atomic.Int32 // 1: answered during Barrier; 2: Barrier returned first
	s.barrier.Barrier(s.sharedCtx(ctx), func() {
		if !state.CompareAndSwap(0, 1) {
			s.c.Post(s.resume) // parked below, on this loop, before this runs
		}
	})
	if !state.CompareAndSwap(0, 2) {
		return false
	}
	s.park(ctx, w, req, c, class)
	return true
}

// park holds the client and keeps req until its lane is free.
func (s *session) park(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info, class command.Class) {
	s.parked = &parked{ctx: ctx, w: w, req: req, c: c, class: class, release: s.c.Hold()}
}

// resume serves the parked command again, then lets the client's later commands in.
func (s *session) resume() {
	p := s.parked
	if p == nil {
		return
	}
	s.parked = nil
	if !s.c.Closed() {
		proxy.Serve(p.ctx, proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
			s.route(ctx, w, req, p.c, p.class)
		}), p.w, p.req)
	}
	p.release()
}

// lane decides where a command of class (c nil: unknown to the model) goes: to the
// shared connections, to the dedicated one (with the key that picks its server, and the
// reply timeout), or answered here (v).
func (s *session) lane(c *command.Info, class command.Class, args [][]byte) (ln lane, key []byte, timeout time.Duration, v resp.Value) {
	switch class {
	case command.Shared, command.EveryShard:
		if s.stateful() || s.dc != nil && s.proto == 2 && s.dc.Subscriptions() > 0 {
			return laneDC, nil, 0, v // in a state; or PING in RESP2 subscribe mode
		}
		return laneShared, nil, 0, v
	case command.Unclassified:
		return laneDC, nil, 0, v
	case command.Stream:
		return laneStream, nil, 0, v
	}
	switch c.Effect {
	case command.EffectExec, command.EffectDiscard:
		if !s.multi && s.dc == nil {
			return laneLocal, nil, 0, resp.Error("ERR", displayName(c)+" without MULTI")
		}
	case command.EffectUnwatch:
		if s.dc == nil {
			return laneLocal, nil, 0, resp.OK
		}
	case command.EffectSelect:
		if string(args[1]) == "0" && s.dc == nil {
			return laneLocal, nil, 0, resp.OK
		}
	case command.EffectUnsubscribe:
		if s.dc == nil {
			return laneLocal, nil, 0, s.unsubscribed(c.Name, args[1:])
		}
	case command.EffectSubscribe:
		var buf [1]int
		if ch := c.ShardChannels(args, buf[:0]); len(ch) > 0 {
			key = args[ch[0]]
		}
	case command.EffectBlock:
		// Wait for the command's own timeout, and a margin for the reply to come.
		if timeout, _ = c.BlockTimeout(args); timeout > 0 {
			timeout += max(time.Second, timeout/10)
		}
		fallthrough
	default:
		var buf [4]int
		if ks := c.Keys(args, buf[:0]); len(ks) > 0 {
			key = args[ks[0]]
		}
	}
	return laneDC, key, timeout, v
}

// enter updates the session's state for a command sent to the dedicated connection (c
// nil: unknown to the model), and returns what to do if the server refuses it.
func (s *session) enter(c *command.Info, args [][]byte) (refused func()) {
	if c == nil {
		s.untracked = true
		return nil
	}
	switch c.Effect {
	case command.EffectMulti:
		if !s.multi {
			s.multi, s.tx, s.txLen = true, nil, 0
		}
	case command.EffectExec, command.EffectDiscard:
		s.multi, s.watch = false, false
	case command.EffectWatch:
		if !s.multi {
			s.watch = true
		}
	case command.EffectUnwatch:
		if !s.multi {
			s.watch = false
		}
	case command.EffectSession:
		if c == authCommand && !s.multi && s.f.users != nil {
			s.authing++ // see loggedIn
		} else {
			s.untracked = true
		}
	case command.EffectSelect:
		if !s.multi {
			return s.selectSent(args)
		}
	}
	return nil
}

// selectSent records the database a SELECT chooses, and returns what to do if the
// server refuses it: the database stays what it was.
func (s *session) selectSent(args [][]byte) (refused func()) {
	n, ok := parseDB(args[1])
	if !ok {
		return nil // the server refuses it
	}
	prev := s.db
	s.db = n
	return func() {
		if s.db == n {
			s.db = prev
		}
	}
}

// parseDB reads a database number as Redis does (an int, no sign for 0).
func parseDB(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n, neg := 0, b[0] == '-'
	if neg {
		b = b[1:]
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return 0, false // Redis: "DB index is out of range"
	}
	return n, len(b) > 0
}

// unsubscribed answers an unsubscription of a client subscribed to nothing, as Redis
// does: one confirmation per name, or one with a null name, each counting 0.
func (s *session) unsubscribed(name string, names [][]byte) resp.Value {
	t := resp.TypeArray
	if s.proto == 3 {
		t = resp.TypePush
	}
	var out []byte
	one := func(ch resp.Value) {
		out = resp.Value{Type: t, Elems: []resp.Value{resp.BulkString(name), ch, resp.Integer(0)}}.AppendTo(out)
	}
	if len(names) == 0 {
		one(s.null())
	}
	for _, n := range names {
		one(resp.Bulk(n))
	}
	return resp.Raw(out)
}

// null is the null reply in the session's protocol.
func (s *session) null() resp.Value {
	if s.proto == 3 {
		return resp.Value{Type: resp.TypeNull}
	}
	return resp.NullBulk
}

// startTunnel makes the client's connection a stream of a server connection of its own
// (MONITOR, SYNC, PSYNC): the command goes there, and everything the server sends, from
// its reply on, goes to the client as it comes; the client's later commands go there as
// they are. Every earlier command of the client has been answered. The stream lasts
// until either side closes; a dedicated connection the client had is closed, with its
// state.
func (s *session) startTunnel(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	c := s.c
	s.replica = !req.Is("monitor")
	if s.mergesStream(req) {
		s.tunnel = startMergedStream(s.sendCtx(ctx), s.b.(backend.ShardTunneler), c, req.Command(), req.Is("monitor"))
	} else {
		s.tunnel = s.b.(backend.Tunneler).Tunnel(s.sendCtx(ctx), nil,
			func(b []byte) { c.Push(resp.Raw(b)) },
			func(error) { c.Post(func() { _ = c.Close() }) })
	}
	if s.dc != nil {
		s.dc.Close()
		s.setDC(nil) // the stream keeps its place under OwnConnLimits
	}
	s.tunnel.Write(req.Command())
	w.WriteReply(resp.NoReply)
}

// mergesStream reports whether req is a SYNC or a MONITOR that the session makes of
// every shard's (see mergedStream): on a backend of several shards that can tunnel to
// each.
func (s *session) mergesStream(req *proxy.Request) bool {
	st, ok := s.b.(backend.ShardTunneler)
	return ok && st.Shards() > 1 && (req.Is("sync") || req.Is("monitor"))
}

// toTunnel sends a command of a client whose connection is a stream of the server's
// (after MONITOR, SYNC, PSYNC): as it is, and whatever the server answers comes back in
// the stream. A command the server must not run for this client, as it would act on
// other connections than the client's own (SHUTDOWN, and CLIENT KILL, UNBLOCK and LIST,
// which name the server's connections there), cannot be answered in the middle of the
// stream either: the client is disconnected.
func (s *session) toTunnel(w proxy.ReplyWriter, req *proxy.Request) {
	c, _ := command.LookupArgs(req.Args())
	if c != nil && (c.ClassOf(req.Args()) == command.Refused || c == clientKillCommand || c == clientUnblockCommand || c == clientListCommand) {
		w.WriteReply(resp.NoReply)
		s.c.CloseAfterReplies()
		return
	}
	s.tunnel.Write(req.Command())
	w.WriteReply(resp.NoReply)
}
