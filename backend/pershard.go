package backend

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// PerShardConfig configures [NewPerShard]: how a sharded backend finds the server of a
// command and lends a connection to it.
type PerShardConfig struct {
	// Route returns the server of the command args (name first): a comparable value
	// naming it (an address, a node), nil for a command without keys, and ok false when
	// its keys live on several servers. Required.
	Route func(args [][]byte) (server any, ok bool)
	// Default returns the server of the commands without keys (SUBSCRIBE, PING, a
	// transaction that names no key). Required.
	Default func() any
	// All returns every server, for the subscriptions that must be everywhere: keyspace
	// notifications, which each server sends of its own keys only. Required.
	All func() []any
	// Open lends a connection of its own to server, as Dedicator.Dedicate does, with
	// push as its callback for what the server sends unasked; it is called once per
	// server the connection needs. Required.
	Open func(server any, push func(resp.Value)) Dedicated
	// Push receives what the servers send unasked (see Dedicator.Dedicate). Of the
	// servers other than the Default one, only keyspace notifications, shard channel
	// messages and RESP3 pushes that are not messages reach it: a Redis Cluster gives
	// every node's subscribers each PUBLISH, so one copy, the Default server's, is
	// enough.
	Push func(resp.Value)
	// Redirect, when not nil, reads an error reply: ok when it is a redirection (a Redis
	// Cluster's -MOVED or -ASK), with the server to send the command to, nil when it
	// cannot be followed. A redirection never reaches the client, as it names a server:
	// outside a transaction a command with keys is sent to the server named (a few
	// times at most); inside one, the client gets CrossShard, and the server has
	// already marked the transaction to fail; otherwise the client gets Unfollowed.
	Redirect func(v resp.Value) (server any, ok bool)
	// Unfollowed is the reply in place of a redirection that is not followed (see
	// Redirect). Required with Redirect.
	Unfollowed resp.Value
	// CrossShard is the reply to a command whose keys live on several servers, or on
	// another server than the transaction or the WATCH it belongs to.
	CrossShard resp.Value
	// Select is the reply to SELECT of a database other than 0.
	Select resp.Value
	// Redirects, when not nil, returns the dedicated connection of the client a CLIENT
	// TRACKING ... REDIRECT names by its ID (the proxy's; see RedirectsFrom), or nil:
	// each server is given the ID of that client's connection to it (ServerIDOn), so
	// that its invalidation messages reach that client, and no other.
	Redirects func(id int64) Dedicated
}

// ServerIDs is implemented by a dedicated connection over several servers
// (NewPerShard's): ServerIDOn returns the ID (CLIENT ID) on server, named as
// PerShardConfig names servers, of its connection to it, 0 when it has none. Safe from
// any goroutine.
type ServerIDs interface {
	ServerIDOn(server any) int64
	// OpenAll opens the connection's connection to every server that has none yet.
	OpenAll()
}

type redirectsKey struct{}

// WithRedirects returns a copy of ctx that carries find, which returns the dedicated
// connection of the proxy's client of an ID, or nil (see PerShardConfig.Redirects). The
// proxy's router sets it once per client connection.
func WithRedirects(ctx context.Context, find func(id int64) Dedicated) context.Context {
	return context.WithValue(ctx, redirectsKey{}, find)
}

// RedirectsFrom returns the function WithRedirects put in ctx, or nil.
func RedirectsFrom(ctx context.Context) func(id int64) Dedicated {
	find, _ := ctx.Value(redirectsKey{}).(func(id int64) Dedicated)
	return find
}

// Replies of a PerShard connection.
var (
	errExecAbort   = resp.Error("EXECABORT", "Transaction discarded because of previous errors.")
	errNestedMulti = resp.Error("ERR", "MULTI calls can not be nested")
)

// NewPerShard returns a dedicated connection of a sharded backend to all of its servers
// at once: it opens one connection per server as commands need them, and sends each
// command to the server of its keys, so that a client keeps the state it gave its
// connection (CLIENT TRACKING, subscriptions) whichever keys it uses next. A
// transaction lives on one server: MULTI is answered at once and sent along with the
// first command that names a key, and a command of another server in the transaction
// is refused with CrossShard, after which EXEC fails with EXECABORT, as Redis's does
// after a command it refused. WATCHed keys must live on the transaction's server.
// CLIENT TRACKING is sent to every connection, those opened later included; CLIENT
// CACHING goes with the command after it, or the transaction after it, as in Redis.
// Commands without keys go to the Default server, but for whole-keyspace ones (class
// every-shard: FLUSHALL, DBSIZE, KEYS, CONFIG SET, INFO...), which go to every server and
// are merged by their response policy (command.MergeReplies, command.MergeInfo), except
// those with merges of their own (SCAN, RANDOMKEY), which the Default server answers.
//
// Replies come in the order of Send per server; commands to different servers are not
// ordered with each other, as with any sharded backend. Safe from any goroutine.
func NewPerShard(cfg PerShardConfig) Dedicated {
	return &perShard{cfg: cfg, conns: map[any]Dedicated{}}
}

var _ Unblocker = (*perShard)(nil)

type perShard struct {
	cfg PerShardConfig
	ids atomic.Pointer[map[any]Dedicated] // conns, for ServerIDOn without p.mu

	mu            sync.Mutex
	conns         map[any]Dedicated
	order         []Dedicated     // conns in the order opened
	servers       []any           // their servers
	tracking      *resp.Command   // the last CLIENT TRACKING, sent to every new connection
	hello, auth   *resp.Command   // the last HELLO and the AUTH after it, likewise
	caching       *pendingCommand // CLIENT CACHING, to send with the next command
	multi         bool            // in a transaction (MULTI answered)
	tx            any             // the transaction's server, nil until a command names one
	queued        []resp.Command  // commands of the transaction before its server was known
	keyless       any             // where those went, queued at once (nil: not sent yet)
	dirty         bool            // a command of the transaction was refused: EXEC aborts
	watch         any             // the server of the WATCHed keys, nil when none
	blocked       Dedicated       // the connection of the last command that may block
	blockedServer any
	// everywhere: a subscription was sent to every server (keyspace notifications),
	// so unsubscriptions go everywhere too.
	everywhere bool
	gone       bool
}

// keyspaceChannels reports whether SUBSCRIBE's channels (or PSUBSCRIBE's patterns) may
// name channels each server sends on of its own keys: keyspace notifications
// ("__keyspace@...", "__keyevent@...") and client-side caching's invalidations
// ("__redis__:invalidate", where a CLIENT TRACKING ... REDIRECT sends them): for a
// pattern, whether its literal beginning, up to its first wildcard, and one of those
// prefixes begin alike.
func keyspaceChannels(args [][]byte, patterns bool) bool {
	for _, a := range args {
		lit := a
		if patterns {
			if i := bytes.IndexAny(a, "*?[\\"); i >= 0 {
				lit = a[:i]
			}
		}
		for _, prefix := range keyspacePrefixes {
			n := min(len(lit), len(prefix))
			if bytes.Equal(lit[:n], prefix[:n]) && (patterns || len(lit) >= len(prefix)) {
				return true
			}
		}
	}
	return false
}

var keyspacePrefixes = [][]byte{[]byte("__keyspace@"), []byte("__keyevent@"), []byte("__redis__:invalidate")}

// otherPush forwards what a server other than the Default one sends unasked, but for
// the pub/sub messages of channels that are not keyspace notifications: a Redis Cluster
// gives them to every node's subscribers, and the Default server's copy is the one the
// client gets.
func (p *perShard) otherPush(v resp.Value) {
	d, err := v.Decode()
	if err == nil && (d.Type == resp.TypePush || d.Type == resp.TypeArray) && len(d.Elems) >= 3 {
		kind, channel := string(d.Elems[0].Str), d.Elems[1].Str
		if kind == "pmessage" && len(d.Elems) >= 4 {
			channel = d.Elems[2].Str
		}
		if (kind == "message" || kind == "pmessage") && !keyspaceChannels([][]byte{channel}, false) {
			return
		}
	}
	p.cfg.Push(v)
}

// pendingCommand is a command held until the server it goes to is known.
type pendingCommand struct {
	cmd     resp.Command
	timeout time.Duration
	done    func(resp.Value, error)
}

// conn returns the connection to server, opening it if needed. p.mu is held.
func (p *perShard) conn(server any) Dedicated {
	if c, ok := p.conns[server]; ok {
		return c
	}
	push := p.cfg.Push
	if server != p.cfg.Default() {
		push = p.otherPush
	}
	c := p.cfg.Open(server, push)
	p.conns[server] = c
	p.order, p.servers = append(p.order, c), append(p.servers, server)
	ids := maps.Clone(p.conns)
	p.ids.Store(&ids)
	for _, cmd := range []*resp.Command{p.hello, p.auth, p.tracking} {
		if cmd == p.tracking && cmd != nil {
			c.Send(p.trackingOn(server), 0, func(resp.Value, error) {})
		} else if cmd != nil {
			c.Send(*cmd, 0, func(resp.Value, error) {})
		}
	}
	return c
}

// trackingOn returns the CLIENT TRACKING for server: with REDIRECT, the ID of the
// redirection's connection to server (0, which no client has, when it has none or is
// not known: the server refuses it). p.mu is held.
func (p *perShard) trackingOn(server any) resp.Command {
	args := p.tracking.Args
	for i := 3; i+1 < len(args); i++ {
		if !bytes.EqualFold(args[i], []byte("redirect")) {
			continue
		}
		var id int64 // without Redirects, the ID is the proxy's: no server's
		if p.cfg.Redirects != nil {
			proxyID, _ := strconv.ParseInt(string(args[i+1]), 10, 64)
			if ids, ok := p.cfg.Redirects(proxyID).(ServerIDs); ok {
				id = ids.ServerIDOn(server)
			}
		}
		out := slices.Clone(args)
		out[i+1] = strconv.AppendInt(nil, id, 10)
		return resp.Command{Args: out}
	}
	return *p.tracking
}

// OpenAll opens a connection to every server that has none yet. See ServerIDs.
func (p *perShard) OpenAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gone {
		for _, s := range p.cfg.All() {
			p.conn(s)
		}
	}
}

// ServerIDOn returns the ID on server of the connection's connection to it, 0 if none.
// See ServerIDs.
func (p *perShard) ServerIDOn(server any) int64 {
	ids := p.ids.Load()
	if ids == nil {
		return 0
	}
	if c, ok := (*ids)[server].(interface{ ServerID() int64 }); ok {
		return c.ServerID()
	}
	return 0
}

// everyConn sends cmd, which sets up the client's connection (AUTH, HELLO, CLIENT
// TRACKING), to each server connection open, or to the Default server's when none is,
// and answers done with the first's reply, or the first error: so a client logged in is
// logged in on every server. keep records it for the connections opened later; it is
// put back as it was if a server refuses cmd. CLIENT TRACKING goes to each server as
// trackingOn makes it. p.mu is held; everyConn unlocks it.
func (p *perShard) everyConn(cmd resp.Command, timeout time.Duration, done func(resp.Value, error), keep **resp.Command) {
	if len(p.order) == 0 {
		p.conn(p.cfg.Default())
	}
	conns := slices.Clone(p.order)
	prev, cp := *keep, cmd.Clone()
	*keep = &cp
	cmds := []resp.Command{cmd}
	if keep == &p.tracking {
		cmds = make([]resp.Command, len(conns))
		for i, server := range p.servers {
			cmds[i] = p.trackingOn(server)
		}
	}
	p.mu.Unlock()
	everyServer(conns, cmds, timeout, func(parts []resp.Value) resp.Value {
		for _, v := range parts {
			if v.IsError() {
				p.mu.Lock()
				if *keep == &cp {
					*keep = prev
				}
				p.mu.Unlock()
				return v
			}
		}
		return parts[0]
	}, done)
}

// Send sends cmd to the server of its keys. See Dedicated.
func (p *perShard) Send(cmd resp.Command, timeout time.Duration, done func(resp.Value, error)) {
	if len(cmd.Args) == 0 {
		done(resp.Error("ERR", "empty command"), nil)
		return
	}
	c, _ := command.LookupArgs(cmd.Args)
	effect, name := command.EffectNone, ""
	if c != nil {
		effect, name = c.Effect, c.Name
	}
	if effect == command.EffectSelect && !(len(cmd.Args) == 2 && string(cmd.Args[1]) == "0") {
		done(p.cfg.Select, nil)
		return
	}
	server, ok := p.cfg.Route(cmd.Args)
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		done(resp.Value{}, ErrClosed)
		return
	}
	if !ok {
		p.dirty = p.dirty || p.multi
		p.mu.Unlock()
		done(p.cfg.CrossShard, nil)
		return
	}
	if p.multi {
		p.inTx(cmd, timeout, done, effect, server) // unlocks
		return
	}
	switch {
	case effect == command.EffectMulti:
		p.multi, p.tx = true, nil
		p.mu.Unlock()
		done(resp.OK, nil)
		return
	case effect == command.EffectWatch:
		if p.watch != nil && server != p.watch {
			p.mu.Unlock()
			done(p.cfg.CrossShard, nil)
			return
		}
		p.watch = server
	case effect == command.EffectUnwatch:
		if p.watch == nil {
			p.mu.Unlock()
			done(resp.OK, nil)
			return
		}
		server, p.watch = p.watch, nil
	case name == "auth":
		p.everyConn(cmd, timeout, done, &p.auth)
		return
	case effect == command.EffectProtocol:
		if helloLogsIn(cmd.Args) {
			p.auth = nil // the HELLO's comes after it
		}
		p.everyConn(cmd, timeout, done, &p.hello)
		return
	case name == "client|tracking":
		if slices.ContainsFunc(cmd.Args[2:], func(a []byte) bool { return bytes.EqualFold(a, []byte("bcast")) }) {
			// Broadcasting: every server sends the invalidations of its own keys.
			for _, s := range p.cfg.All() {
				p.conn(s)
			}
		}
		p.everyConn(cmd, timeout, done, &p.tracking)
		return
	case (name == "subscribe" || name == "psubscribe") && keyspaceChannels(cmd.Args[1:], name == "psubscribe") ||
		(name == "unsubscribe" || name == "punsubscribe") && p.everywhere:
		// Keyspace notifications: each server sends its own keys' events. The Default
		// server's confirmations are the client's; the others' are dropped.
		p.everywhere = true
		def := p.conn(p.cfg.Default())
		var others []Dedicated
		for _, s := range p.cfg.All() {
			if c := p.conn(s); c != def {
				others = append(others, c)
			}
		}
		p.mu.Unlock()
		for _, c := range others {
			c.Send(cmd, timeout, func(resp.Value, error) {})
		}
		def.Send(cmd, timeout, done)
		return
	case name == "client|caching" && p.cachingOK(cmd.Args):
		// Answered now, as the server would (a client may wait for it before it sends
		// the command it is about), and sent along with that command, to its server.
		p.caching = &pendingCommand{cmd.Clone(), timeout, func(resp.Value, error) {}}
		p.mu.Unlock()
		done(resp.OK, nil)
		return
	case c != nil && server == nil && c.ClassOf(cmd.Args) == command.EveryShard && (c.Response != command.ResponseSpecial || name == "info"):
		// A whole-keyspace command (FLUSHALL, DBSIZE, KEYS, CONFIG SET, INFO...): every
		// server's part, merged as one Redis would answer, as the router's fan-out
		// does for the shared connections; it touches the WATCHed keys of every server.
		var conns []Dedicated
		for _, s := range p.cfg.All() {
			conns = append(conns, p.conn(s))
		}
		p.mu.Unlock()
		merge := func(parts []resp.Value) resp.Value { return command.MergeReplies(c.Response, parts) }
		if name == "info" {
			merge = command.MergeInfo
		}
		everyServer(conns, []resp.Command{cmd}, timeout, merge, done)
		return
	}
	routed := server != nil
	if !routed {
		server = p.cfg.Default()
	}
	conn := p.conn(server)
	if effect == command.EffectBlock {
		p.blocked, p.blockedServer = conn, server
	}
	caching := p.caching
	p.caching = nil
	p.mu.Unlock()
	if caching != nil {
		conn.Send(caching.cmd, caching.timeout, caching.done)
	}
	if p.cfg.Redirect != nil && routed {
		conn.Send(cmd, timeout, p.follow(cmd.Clone(), timeout, done, 0))
		return
	}
	conn.Send(cmd, timeout, p.noRedirect(done, p.cfg.Unfollowed))
}

// ServerID returns the ID on its server (CLIENT ID) of the connection's one server
// connection, when it has exactly one (a client on one server, a one-node cluster):
// what CLIENT TRACKING REDIRECT and CLIENT UNBLOCK name it by. 0 otherwise: a connection
// spread over several servers has an ID on each.
func (p *perShard) ServerID() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) != 1 {
		return 0
	}
	if id, ok := p.order[0].(interface{ ServerID() int64 }); ok {
		return id.ServerID()
	}
	return 0
}

// Unblock ends the wait of the blocking command last sent, as CLIENT UNBLOCK does
// (mode "TIMEOUT" or "ERROR"), with CLIENT UNBLOCK on a connection of its own to that
// command's server; done gets its reply (0 when nothing could be unblocked). See
// Unblocker.
func (p *perShard) Unblock(mode string, done func(resp.Value, error)) {
	p.mu.Lock()
	c, server := p.blocked, p.blockedServer
	p.mu.Unlock()
	var sid int64
	if id, ok := c.(interface{ ServerID() int64 }); ok {
		sid = id.ServerID()
	}
	if sid == 0 {
		done(resp.Integer(0), nil)
		return
	}
	side := p.cfg.Open(server, func(resp.Value) {})
	side.Send(resp.NewCommand("CLIENT", "UNBLOCK", strconv.FormatInt(sid, 10), mode), 0, func(v resp.Value, err error) {
		done(v, err)
		side.Release()
	})
}

// cachingOK reports whether the server would accept CLIENT CACHING args: tracking is on
// in OPTIN or OPTOUT mode, and the argument is YES or NO. Otherwise the command goes to
// the Default server, which answers with its error. p.mu is held.
func (p *perShard) cachingOK(args [][]byte) bool {
	if p.tracking == nil || len(args) != 3 || !bytes.EqualFold(args[2], []byte("yes")) && !bytes.EqualFold(args[2], []byte("no")) {
		return false
	}
	t := p.tracking.Args
	if len(t) < 3 || !bytes.EqualFold(t[2], []byte("on")) {
		return false
	}
	for _, a := range t[3:] {
		if bytes.EqualFold(a, []byte("optin")) || bytes.EqualFold(a, []byte("optout")) {
			return true
		}
	}
	return false
}

// everyServer sends cmds[i] on conns[i] (cmds[0] on each when it is the only one) and
// gives done the replies merged, or the first error.
func everyServer(conns []Dedicated, cmds []resp.Command, timeout time.Duration, merge func([]resp.Value) resp.Value, done func(resp.Value, error)) {
	if len(conns) == 0 {
		done(resp.Value{}, ErrUnavailable)
		return
	}
	var mu sync.Mutex
	parts := make([]resp.Value, len(conns))
	left := len(conns)
	var first error
	for i, c := range conns {
		cmd := cmds[0]
		if len(cmds) > 1 {
			cmd = cmds[i]
		}
		c.Send(cmd, timeout, func(v resp.Value, err error) {
			mu.Lock()
			if err != nil && first == nil {
				first = err
			}
			if err == nil {
				parts[i] = resp.Raw(v.AppendTo(nil)) // borrowed until this returns
			}
			left--
			last := left == 0
			mu.Unlock()
			if !last {
				return
			}
			if first != nil {
				done(resp.Value{}, first)
				return
			}
			done(merge(parts), nil)
		})
	}
}

// inTx sends or holds a command of a transaction. p.mu is held; inTx unlocks it.
func (p *perShard) inTx(cmd resp.Command, timeout time.Duration, done func(resp.Value, error), effect command.Effect, server any) {
	switch {
	case effect == command.EffectMulti:
		p.mu.Unlock() // refused, and the transaction goes on, as in Redis
		done(errNestedMulti, nil)
		return
	case effect == command.EffectExec || effect == command.EffectDiscard:
		tx, dirty, queued, caching := p.tx, p.dirty && effect == command.EffectExec, p.queued, p.caching
		if tx == nil && p.keyless != nil {
			tx, queued = p.keyless, nil // the server has queued them: it runs or ends them
		}
		p.multi, p.tx, p.dirty, p.queued, p.caching, p.keyless = false, nil, false, nil, nil, nil
		watch := p.watch
		p.watch = nil
		switch {
		case tx == nil && effect == command.EffectDiscard || tx == nil && dirty:
			// Nothing reached a server: answered here, and the WATCH (Redis ends it
			// with the transaction) ended on its server.
			var conn Dedicated
			if watch != nil {
				conn = p.conn(watch)
			}
			p.mu.Unlock()
			if caching != nil {
				caching.done(resp.OK, nil)
			}
			if conn != nil {
				conn.Send(resp.NewCommand("UNWATCH"), 0, func(resp.Value, error) {})
			}
			if dirty {
				done(errExecAbort, nil)
			} else {
				done(resp.OK, nil)
			}
			return
		}
		unsent := tx == nil // no command named a key: MULTI never reached a server
		if unsent {
			tx = watch
			if tx == nil {
				tx = p.cfg.Default()
			}
		}
		conn := p.conn(tx)
		p.mu.Unlock()
		if unsent {
			if caching != nil {
				conn.Send(caching.cmd, caching.timeout, caching.done)
			}
			conn.Send(resp.NewCommand("MULTI"), 0, func(resp.Value, error) {})
			for _, q := range queued {
				conn.Send(q, 0, func(resp.Value, error) {})
			}
		}
		if dirty {
			conn.Send(resp.NewCommand("DISCARD"), timeout, func(_ resp.Value, err error) { done(errExecAbort, err) })
			return
		}
		conn.Send(cmd, timeout, p.noRedirect(done, p.cfg.Unfollowed))
		return
	case server != nil && (p.tx != nil && server != p.tx || p.watch != nil && server != p.watch):
		p.dirty = true
		p.mu.Unlock()
		done(p.cfg.CrossShard, nil)
		return
	case p.tx == nil && server == nil:
		// No key yet: queued at once on the server of the WATCH, or the Default one,
		// which checks it now as Redis would (a stale replica refuses a PING queued
		// then, not one queued before), and kept, to be queued again on the server of
		// the first key if it is another.
		target, first := p.keyless, p.keyless == nil
		if first {
			if target = p.watch; target == nil {
				target = p.cfg.Default()
			}
			p.keyless = target
		}
		conn := p.conn(target)
		p.queued = append(p.queued, cmd.Clone())
		caching := p.caching
		if first {
			p.caching = nil
		}
		p.mu.Unlock()
		if first {
			if caching != nil {
				conn.Send(caching.cmd, caching.timeout, caching.done)
			}
			conn.Send(resp.NewCommand("MULTI"), 0, func(resp.Value, error) {})
		}
		conn.Send(cmd, timeout, func(v resp.Value, err error) {
			if err == nil && v.IsError() {
				// Refused at queue time: the transaction fails, also if it moves to
				// a server that would queue the command.
				p.mu.Lock()
				p.dirty = true
				p.mu.Unlock()
			}
			done(v, err)
		})
		return
	case p.tx == nil:
		p.tx = server
		conn := p.conn(server)
		queued, caching, keyless := p.queued, p.caching, p.keyless
		p.queued, p.caching, p.keyless = nil, nil, nil
		var left Dedicated
		if keyless != nil && keyless != server {
			left = p.conn(keyless)
		}
		p.mu.Unlock()
		if keyless != nil && keyless == server {
			conn.Send(cmd, timeout, p.noRedirect(done, p.cfg.CrossShard)) // MULTI is there
			return
		}
		if left != nil {
			left.Send(resp.NewCommand("DISCARD"), 0, func(resp.Value, error) {})
		}
		if caching != nil {
			conn.Send(caching.cmd, caching.timeout, caching.done)
		}
		conn.Send(resp.NewCommand("MULTI"), 0, func(resp.Value, error) {})
		for _, q := range queued {
			conn.Send(q, 0, func(resp.Value, error) {})
		}
		conn.Send(cmd, timeout, p.noRedirect(done, p.cfg.CrossShard))
		return
	}
	conn := p.conn(p.tx)
	p.mu.Unlock()
	// A redirection in a transaction: the client cannot follow it, and the server has
	// marked the transaction to fail.
	conn.Send(cmd, timeout, p.noRedirect(done, p.cfg.CrossShard))
}

// noRedirect returns done, but for a redirection (Redirect), which becomes instead.
func (p *perShard) noRedirect(done func(resp.Value, error), instead resp.Value) func(resp.Value, error) {
	if p.cfg.Redirect == nil {
		return done
	}
	return func(v resp.Value, err error) {
		if err == nil && v.Type == resp.TypeError {
			if _, redirected := p.cfg.Redirect(v); redirected {
				v = instead
			}
		}
		done(v, err)
	}
}

// follow returns the callback of a command with keys outside a transaction: a
// redirection sends cmd to the server named, a few times at most.
func (p *perShard) follow(cmd resp.Command, timeout time.Duration, done func(resp.Value, error), tries int) func(resp.Value, error) {
	return func(v resp.Value, err error) {
		if err != nil || v.Type != resp.TypeError {
			done(v, err)
			return
		}
		server, redirected := p.cfg.Redirect(v)
		if !redirected {
			done(v, err)
			return
		}
		if server == nil || tries >= 3 {
			done(p.cfg.Unfollowed, nil)
			return
		}
		p.mu.Lock()
		if p.gone {
			p.mu.Unlock()
			done(resp.Value{}, ErrClosed)
			return
		}
		conn := p.conn(server)
		p.mu.Unlock()
		conn.Send(cmd, timeout, p.follow(cmd, timeout, done, tries+1))
	}
}

// Subscriptions adds up the subscriptions of the connections.
func (p *perShard) Subscriptions() int {
	p.mu.Lock()
	conns := p.order
	p.mu.Unlock()
	n := 0
	for _, c := range conns {
		n += c.Subscriptions()
	}
	return n
}

// Release gives every connection back.
func (p *perShard) Release() { p.end(Dedicated.Release) }

// Close closes every connection.
func (p *perShard) Close() { p.end(Dedicated.Close) }

func (p *perShard) end(how func(Dedicated)) {
	p.mu.Lock()
	conns := p.order
	p.gone, p.conns, p.order = true, nil, nil
	p.mu.Unlock()
	for _, c := range conns {
		how(c)
	}
}

// helloLogsIn reports whether HELLO's args (name first) log in (HELLO 3 AUTH user pass).
func helloLogsIn(args [][]byte) bool {
	for _, a := range args[min(2, len(args)):] {
		if bytes.EqualFold(a, []byte("auth")) {
			return true
		}
	}
	return false
}
