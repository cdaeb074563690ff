package router

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// A session is what the router knows of one client connection: its protocol, its name,
// and the state it holds on a dedicated server connection (a transaction, WATCHed keys,
// a database, subscriptions). A client starts on the backend's shared connections; a
// command that needs state borrows a dedicated connection (backend.Dedicator), which
// the client keeps while it holds any state, and gives back at its first command once
// it holds none.
//
// Commands of one client go over one connection at a time, its lane, so that they run
// in order: before a command takes another lane, the commands sent on the old one must
// have been answered (a barrier on the shared connection, the replies on the dedicated
// one). Meanwhile the client is held (Conn.Hold) and its later commands wait.
//
// The state is predicted when commands are sent, as a pipelining client predicts it:
// MULTI opens a transaction at once, EXEC closes it, though their replies are still to
// come. A session is loop-only, but for its atomics.
type session struct {
	f     *Forward
	c     *proxy.Conn
	proto int    // 2 or 3
	name  string // CLIENT SETNAME
	lib   [2]string

	db           int // SELECTed
	multi, watch bool
	dc           backend.Dedicated
	dcBusy       atomic.Int64 // commands sent on dc whose replies are not in
	onDC         bool         // the last command went to dc
	sharedSent   bool         // commands went to the shared connections since the last barrier
	parked       *parked
	waiting      atomic.Bool // parked until dc's replies are in

	ctx, ctx3 context.Context // the last ctx seen, and it with protocol 3
}

// parked is a command waiting for its lane.
type parked struct {
	ctx     context.Context
	w       proxy.ReplyWriter
	req     *proxy.Request
	release func()
}

var sessions = proxy.NewConnKey[*session]()

// Stateful reports whether client connection c is in a state bound to one server
// connection: a transaction, WATCHed keys, subscriptions, a database other than 0.
// Middleware that split commands across shards (fan-out) must then leave them whole.
// Loop-only.
func Stateful(c *proxy.Conn) bool {
	if c == nil {
		return false
	}
	s := sessions.Get(c)
	return s != nil && s.dc != nil && !s.clean()
}

// SharedLane prepares client connection c for commands that a middleware sends to the
// backend itself, around Forward: the parts of a split command, the requests of a
// whole-keyspace one (middleware/fanout). It reports false when c's commands must go
// through Forward now: c holds state on a dedicated server connection (a transaction, a
// subscription, a database other than 0), or that connection still owes replies (a
// blocking command, an EXEC in flight), which a command sent elsewhere could overtake.
// Otherwise it gives back a dedicated connection c no longer needs, as Forward would,
// counts what follows as sent on the backend's shared connections (so that a later move
// to a dedicated connection first waits for their replies), and returns ctx with c's
// protocol (backend.WithProtocol for a RESP3 client, whose commands travel over RESP3
// connections: a part sent over a RESP2 one could overtake the client's earlier
// commands). A nil c, or one that no Forward serves, gets ctx and true. Loop-only.
func SharedLane(ctx context.Context, c *proxy.Conn) (context.Context, bool) {
	if c == nil {
		return ctx, true
	}
	s := sessions.Get(c)
	if s == nil {
		return ctx, true
	}
	if s.parked != nil || s.dc != nil && (!s.clean() || s.dcBusy.Load() > 0) {
		return ctx, false
	}
	if s.dc != nil {
		s.dc.Release()
		s.dc = nil
	}
	s.onDC, s.sharedSent = false, true
	return s.sendCtx(ctx), true
}

// clean reports whether the session holds no state on its dedicated connection.
func (s *session) clean() bool {
	return !s.multi && !s.watch && s.db == 0 && (s.dc == nil || s.dc.Subscriptions() == 0)
}

// open starts the session of c.
func (f *Forward) open(c *proxy.Conn) {
	s := &session{f: f, c: c, proto: 2}
	sessions.Set(c, s)
	context.AfterFunc(c.Context(), func() { c.Post(s.closed) })
}

// closed gives back or closes the dedicated connection of a client that went away: one
// that is blocked (BLPOP) or holds state is closed, so that the server pops nothing for
// nobody.
func (s *session) closed() {
	if s.dc == nil {
		return
	}
	if s.clean() && s.dcBusy.Load() == 0 {
		s.dc.Release()
	} else {
		s.dc.Close()
	}
	s.dc = nil
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

// lane is where a command goes.
type lane int

const (
	laneShared lane = iota // the backend's shared connections
	laneDC                 // the session's dedicated connection, made if needed
	laneLocal              // answered by the router
)

// serve routes one command.
func (s *session) serve(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	name := req.Name()
	if v, ok := s.local(name, req); ok {
		w.WriteReply(v)
		return
	}
	if s.f.ded == nil {
		s.f.b.Send(s.sendCtx(ctx), req.Command(), proxy.Callback(w))
		return
	}
	if s.proto == 2 && s.dc != nil && s.dc.Subscriptions() > 0 && !subscribedAllowed[string(name)] {
		w.WriteReply(resp.Error("ERR", fmt.Sprintf("Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", name)))
		return
	}
	s.route(ctx, w, req, name)
}

// route sends req on its lane, or parks it until the lane is free.
func (s *session) route(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, name []byte) {
	ln, key, timeout, v := s.lane(name, req)
	if ln == laneLocal {
		w.WriteReply(v)
		return
	}
	if s.dc != nil && (ln == laneShared || s.clean()) {
		// Leaving the dedicated connection, or starting a new state on a clean one
		// (which a cluster binds to another node): wait for its replies, then give it
		// back if the session holds nothing on it.
		if s.dcBusy.Load() > 0 {
			s.park(ctx, w, req)
			s.waiting.Store(true)
			if s.dcBusy.Load() == 0 && s.waiting.Swap(false) { // answered meanwhile
				s.c.Post(s.resume)
			}
			return
		}
		if s.clean() {
			s.dc.Release()
			s.dc = nil
		}
	}
	if ln == laneShared {
		s.onDC, s.sharedSent = false, true
		s.f.b.Send(s.sendCtx(ctx), req.Command(), proxy.Callback(w))
		return
	}
	// To the dedicated connection.
	if !s.onDC && s.sharedSent && s.f.barrier != nil {
		// Let the commands sent on the shared connection be answered first.
		s.park(ctx, w, req)
		s.sharedSent = false
		s.f.barrier.Barrier(s.sendCtx(ctx), func() { s.c.Post(s.resume) })
		return
	}
	if s.dc == nil {
		s.dc = s.f.ded.Dedicate(s.sendCtx(ctx), key, s.push)
	}
	s.onDC, s.sharedSent = true, false
	s.enter(name)
	refused := s.selectSent(name, req)
	s.dcBusy.Add(1)
	cb := proxy.Callback(w)
	s.dc.Send(req.Command(), timeout, func(v resp.Value, err error) {
		if err != nil {
			s.c.Post(s.lost)
		} else if refused != nil && v.Type == resp.TypeError {
			s.c.Post(refused)
		}
		cb(v, err)
		if s.dcBusy.Add(-1) == 0 && s.waiting.Swap(false) {
			s.c.Post(s.resume)
		}
	})
}

// push forwards a frame the dedicated connection's server sent unasked.
func (s *session) push(v resp.Value) { s.c.Push(v) }

// lost handles a failure of the dedicated connection: if the session held state on
// it, the state is gone, and the client is disconnected, as it would be by a server
// that went down.
func (s *session) lost() {
	if s.dc == nil {
		return
	}
	if !s.clean() {
		s.dc.Close()
		s.dc = nil
		_ = s.c.Close()
		return
	}
	s.dc.Close() // a blocking command timed out or the connection broke: never reuse it
	s.dc = nil
}

// park holds the client and keeps req until its lane is free.
func (s *session) park(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	s.parked = &parked{ctx: ctx, w: w, req: req, release: s.c.Hold()}
}

// resume routes the parked command again, then lets the client's later commands in.
func (s *session) resume() {
	p := s.parked
	if p == nil {
		return
	}
	s.parked = nil
	if !s.c.Closed() {
		proxy.Serve(p.ctx, proxy.HandlerFunc(func(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
			s.route(ctx, w, req, req.Name())
		}), p.w, p.req)
	}
	p.release()
}

// lane decides where a command goes: to the shared connections, to the dedicated one
// (with the key that picks its server, and the reply timeout), or answered here (v).
func (s *session) lane(name []byte, req *proxy.Request) (ln lane, key []byte, timeout time.Duration, v resp.Value) {
	args := req.Args()
	switch string(name) {
	case "multi":
		return laneDC, nil, 0, v
	case "exec", "discard":
		if !s.multi && s.dc == nil {
			return laneLocal, nil, 0, resp.Error("ERR", strings.ToUpper(string(name))+" without MULTI")
		}
		return laneDC, nil, 0, v
	case "watch":
		if len(args) > 1 {
			key = args[1]
		}
		return laneDC, key, 0, v
	case "unwatch":
		if s.dc == nil {
			return laneLocal, nil, 0, resp.OK
		}
		return laneDC, nil, 0, v
	case "select":
		if len(args) == 2 && string(args[1]) == "0" && s.dc == nil {
			return laneLocal, nil, 0, resp.OK
		}
		return laneDC, nil, 0, v
	case "subscribe", "psubscribe", "ssubscribe":
		if string(name) == "ssubscribe" && len(args) > 1 {
			key = args[1]
		}
		return laneDC, key, 0, v
	case "unsubscribe", "punsubscribe", "sunsubscribe":
		if s.dc == nil {
			return laneLocal, nil, 0, s.unsubscribed(string(name), args[1:])
		}
		return laneDC, nil, 0, v
	}
	if s.multi || s.watch || s.db != 0 {
		return laneDC, nil, 0, v
	}
	if d, ok := blockTimeout(name, args); ok {
		if c, found := Lookup(args[0]); found {
			if ks := c.Resolve(args).Keys(args, nil); len(ks) > 0 {
				key = args[ks[0]]
			}
		}
		return laneDC, key, d, v
	}
	if s.dc != nil && s.proto == 2 && s.dc.Subscriptions() > 0 {
		return laneDC, nil, 0, v // PING in RESP2 subscribe mode
	}
	return laneShared, nil, 0, v
}

// enter updates the session's state for a command sent to the dedicated connection.
func (s *session) enter(name []byte) {
	switch string(name) {
	case "multi":
		s.multi = true
	case "exec", "discard":
		s.multi, s.watch = false, false
	case "watch":
		if !s.multi {
			s.watch = true
		}
	case "unwatch":
		if !s.multi {
			s.watch = false
		}
	}
}

// selectSent records the database a SELECT chooses, and returns what to do if the
// server refuses it: the database stays what it was.
func (s *session) selectSent(name []byte, req *proxy.Request) (refused func()) {
	args := req.Args()
	if string(name) != "select" || len(args) != 2 || s.multi {
		return nil
	}
	n, err := strconv.Atoi(string(args[1]))
	if err != nil {
		return nil
	}
	prev := s.db
	s.db = n
	return func() {
		if s.db == n {
			s.db = prev
		}
	}
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

// subscribedAllowed are the commands a RESP2 client may send while subscribed.
var subscribedAllowed = map[string]bool{
	"subscribe": true, "psubscribe": true, "ssubscribe": true, "unsubscribe": true,
	"punsubscribe": true, "sunsubscribe": true, "ping": true, "quit": true, "reset": true,
}

// blockTimeout reports whether a command blocks the server connection, and for how long
// the router waits for its reply: its own timeout plus a margin, or for ever (-1).
func blockTimeout(name []byte, args [][]byte) (time.Duration, bool) {
	var arg []byte
	ms := false
	switch string(name) {
	case "blpop", "brpop", "brpoplpush", "blmove", "bzpopmin", "bzpopmax":
		arg = args[len(args)-1]
	case "blmpop", "bzmpop":
		if len(args) < 2 {
			return 0, false
		}
		arg = args[1]
	case "xread", "xreadgroup":
		for i := 1; i+1 < len(args); i++ {
			if bytes.EqualFold(args[i], []byte("block")) {
				arg, ms = args[i+1], true
				break
			}
			if bytes.EqualFold(args[i], []byte("streams")) {
				break
			}
		}
		if arg == nil {
			return 0, false // XREAD without BLOCK does not block
		}
	case "wait":
		if len(args) != 3 {
			return 0, false
		}
		arg, ms = args[2], true
	case "waitaof":
		if len(args) != 4 {
			return 0, false
		}
		arg, ms = args[3], true
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(string(arg), 64)
	if err != nil || f < 0 {
		return 0, true // the server refuses it at once
	}
	if f == 0 {
		return -1, true
	}
	d := time.Duration(f * float64(time.Second))
	if ms {
		d = time.Duration(f * float64(time.Millisecond))
	}
	return d + max(time.Second, d/10), true
}

// local answers the commands about the client connection itself: HELLO, ECHO, RESET,
// and the CLIENT subcommands that concern the proxy's client rather than the server's.
func (s *session) local(name []byte, req *proxy.Request) (resp.Value, bool) {
	args := req.Args()
	switch string(name) {
	case "hello":
		return s.hello(args), true
	case "echo":
		if len(args) != 2 {
			return wrongArgs("echo"), true
		}
		return resp.Bulk(args[1]), true
	case "reset":
		return s.reset(), true
	case "monitor", "sync", "psync":
		return resp.Error("ERR", "redchain: "+strings.ToUpper(string(name))+" is not supported through the proxy"), true
	case "client":
		return s.client(args)
	}
	return resp.Value{}, false
}

func wrongArgs(name string) resp.Value {
	return resp.Error("ERR", fmt.Sprintf("wrong number of arguments for '%s' command", name))
}

// hello answers HELLO [protover [SETNAME name]]: the protocol the client speaks from
// now on, and the server's description in it. AUTH is for an auth middleware, which
// passes HELLO on without it.
func (s *session) hello(args [][]byte) resp.Value {
	proto := s.proto
	if len(args) >= 2 {
		switch string(args[1]) {
		case "2":
			proto = 2
		case "3":
			proto = 3
		default:
			return resp.Error("NOPROTO", "sorry, this protocol version is not supported")
		}
	}
	name := s.name
	for i := 2; i < len(args); i++ {
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "setname" && i+1 < len(args):
			name = string(args[i+1])
			i++
		case opt == "auth":
			return resp.Error("ERR", "redchain: HELLO AUTH needs an auth middleware in the proxy's chain")
		default:
			return resp.Error("ERR", fmt.Sprintf("Syntax error in HELLO option '%s'", args[i]))
		}
	}
	if proto != s.proto && s.dc != nil {
		if !s.clean() {
			return resp.Error("ERR", "redchain: HELLO cannot change the protocol inside a transaction, a subscription or a database other than 0")
		}
		if s.dcBusy.Load() == 0 {
			s.dc.Release()
			s.dc = nil
		} else {
			s.dc.Close()
			s.dc = nil
		}
	}
	s.proto, s.name = proto, name
	var id int64
	if s.c != nil {
		id = int64(s.c.ID())
	}
	return helloReply(proto, id)
}

// helloReply is the server description HELLO answers with.
func helloReply(proto int, id int64) resp.Value {
	elems := []resp.Value{
		resp.BulkString("server"), resp.BulkString("redis"),
		resp.BulkString("version"), resp.BulkString("7.0.0"),
		resp.BulkString("proto"), resp.Integer(int64(proto)),
		resp.BulkString("id"), resp.Integer(id),
		resp.BulkString("mode"), resp.BulkString("standalone"),
		resp.BulkString("role"), resp.BulkString("master"),
		resp.BulkString("modules"), resp.Array(),
	}
	if proto == 3 {
		return resp.Value{Type: resp.TypeMap, Elems: elems}
	}
	return resp.Array(elems...)
}

// reset leaves every state, as RESET does: the dedicated connection is closed (its
// state with it), and the session is back to RESP2, database 0, no name.
func (s *session) reset() resp.Value {
	if s.dc != nil {
		s.dc.Close()
		s.dc = nil
	}
	s.multi, s.watch, s.db, s.proto, s.name, s.onDC = false, false, 0, 2, "", false
	return resp.SimpleString("RESET")
}

// client answers the CLIENT subcommands about this client; the others go to the
// server.
func (s *session) client(args [][]byte) (resp.Value, bool) {
	if len(args) < 2 {
		return wrongArgs("client"), true
	}
	sub := strings.ToLower(string(args[1]))
	switch sub {
	case "setname":
		if len(args) != 3 {
			return wrongArgs("client|setname"), true
		}
		if bytes.ContainsAny(args[2], " \n") {
			return resp.Error("ERR", "Client names cannot contain spaces, newlines or special characters."), true
		}
		s.name = string(args[2])
		return resp.OK, true
	case "getname":
		if s.name == "" {
			return s.null(), true
		}
		return resp.BulkString(s.name), true
	case "id":
		return resp.Integer(int64(s.c.ID())), true
	case "setinfo":
		if len(args) != 4 {
			return wrongArgs("client|setinfo"), true
		}
		switch strings.ToLower(string(args[2])) {
		case "lib-name":
			s.lib[0] = string(args[3])
		case "lib-ver":
			s.lib[1] = string(args[3])
		default:
			return resp.Error("ERR", fmt.Sprintf("Unrecognized option '%s'", args[2])), true
		}
		return resp.OK, true
	case "info":
		return resp.BulkString(s.info()), true
	case "no-evict", "no-touch":
		return resp.OK, true // server-wide connection flags: not for a shared connection
	case "reply", "tracking", "caching", "getredir", "trackinginfo":
		return resp.Error("ERR", "redchain: CLIENT "+strings.ToUpper(sub)+" is not supported through the proxy"), true
	}
	return resp.Value{}, false
}

// info describes the client as CLIENT INFO does.
func (s *session) info() string {
	subs := 0
	if s.dc != nil {
		subs = s.dc.Subscriptions()
	}
	multi := -1
	if s.multi {
		multi = 0
	}
	return fmt.Sprintf("id=%d addr=%s name=%s db=%d sub=%d multi=%d resp=%d lib-name=%s lib-ver=%s\n",
		s.c.ID(), s.c.RemoteAddr(), s.name, s.db, subs, multi, s.proto, s.lib[0], s.lib[1])
}
