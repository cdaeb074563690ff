package redis

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// A dedicated connection (Backend.Dedicate) is a conn lent to one client for the state
// a shared connection cannot hold: a transaction, subscriptions, a database, a blocking
// command. It is dialled once and never reconnected (its state would be gone), it may
// have a timeout per command, and it tells pub/sub frames from replies: messages and
// the server's own unsubscriptions go to the client's push function, confirmations to
// the command that asked for them.

// idleKey identifies a pool of idle dedicated connections: their loop (nil for
// connections with goroutines of their own) and protocol.
type idleKey struct {
	lp    backend.Loop
	proto int
}

// dedicated is a dedicated connection's state, guarded by its conn's mu.
type dedicated struct {
	key   idleKey
	push  func(resp.Value) // nil while idle
	meta  []entry          // one per queued callback, oldest first
	subs  [3]map[string]struct{}
	count [2]int // subscriptions as the server last counted them: channels+patterns, shard channels
	acc   []byte // confirmations gathered for the oldest command
	err   error  // why the connection ended, for later commands

	serverID atomic.Int64 // the connection's CLIENT ID on the server, once dialled

	warm  bool // dialled ahead: to the idle pool once up
	spent bool // sent a command after which no other client may have it (spends)

	// A tunnel's (Backend.Tunnel): where what the server sends goes, and who hears of
	// the end.
	raw    func([]byte)
	closed func(error)
}

// entry is what a dedicated connection knows of one queued command.
type entry struct {
	timeout time.Duration // 0: the backend's CommandTimeout; negative: none
	frames  int           // confirmations a (un)subscribe waits for; 0: one reply
	got     int
	proto   int      // HELLO's protocol, which the connection speaks once HELLO succeeds
	kind    int      // a subscribe's: subChannel, subPattern or subShard
	added   []string // the subscriptions a subscribe adds, if the server accepts it
}

// spends reports whether args (name first) leave state on a connection that no other
// client may meet: a login (AUTH, HELLO with AUTH), a command the model does not know,
// or one that leaves state the proxy does not follow (command.EffectSession). A
// dedicated connection sent one is closed when given back, never lent again.
func spends(args [][]byte) bool {
	c, ok := command.LookupArgs(args)
	switch {
	case !ok:
		return true
	case c.Effect == command.EffectSession:
		return true
	case c.Effect == command.EffectProtocol:
		for _, a := range args[1:] {
			if bytes.EqualFold(a, []byte("auth")) {
				return true
			}
		}
	}
	return false
}

// helloProto returns the protocol that args (name first) switch the connection to, or 0
// for a command that does not (see command.EffectProtocol).
func helloProto(args [][]byte) int {
	c, ok := command.Lookup(args[0])
	if !ok || c.Effect != command.EffectProtocol || len(args) < 2 {
		return 0
	}
	switch string(args[1]) {
	case "2":
		return 2
	case "3":
		return 3
	}
	return 0
}

// Kinds of subscriptions, indexes of dedicated.subs.
const (
	subChannel = iota
	subPattern
	subShard
)

// subCommand reports whether args (name first) (un)subscribes, and from which kind of
// channels, as the command model says.
func subCommand(args [][]byte) (kind int, unsub, ok bool) {
	c, found := command.Lookup(args[0])
	if !found || c.Effect != command.EffectSubscribe && c.Effect != command.EffectUnsubscribe {
		return 0, false, false
	}
	unsub = c.Effect == command.EffectUnsubscribe
	switch c.Channels {
	case command.Patterns:
		return subPattern, unsub, true
	case command.ShardChannels:
		return subShard, unsub, true
	}
	return subChannel, unsub, true
}

// expect updates the subscriptions for a (un)subscribe command about to be sent, and
// returns how many confirmations the server will send for it, and the subscriptions it
// adds, which an error reply takes back (see refused).
func (d *dedicated) expect(kind int, unsub bool, args [][]byte) (frames int, added []string) {
	set := d.subs[kind]
	if set == nil {
		set = map[string]struct{}{}
		d.subs[kind] = set
	}
	switch {
	case !unsub:
		for _, a := range args {
			if _, ok := set[string(a)]; !ok {
				set[string(a)] = struct{}{}
				added = append(added, string(a))
			}
		}
		return len(args), added // none: an error reply
	case len(args) > 0:
		for _, a := range args {
			delete(set, string(a))
		}
		return len(args), nil
	default:
		n := max(1, len(set)) // unsubscribing from nothing is confirmed once
		clear(set)
		return n, nil
	}
}

// refused takes back the subscriptions that e, a command the server refused (NOPERM,
// a wrong number of arguments), would have added.
func (d *dedicated) refused(e entry) {
	for _, ch := range e.added {
		delete(d.subs[e.kind], ch)
	}
}

// subscriptions counts the channels, patterns and shard channels subscribed to,
// counting the commands sent but not yet answered.
func (d *dedicated) subscriptions() int {
	return len(d.subs[0]) + len(d.subs[1]) + len(d.subs[2])
}

// headTimeout returns the oldest command's timeout: its own, or def.
func (d *dedicated) headTimeout(def time.Duration) time.Duration {
	if len(d.meta) == 0 || d.meta[0].timeout == 0 {
		return def
	}
	return d.meta[0].timeout
}

// takeDown forgets the state of a connection going down. c.mu is held.
func (d *dedicated) takeDown(c *conn, next state) {
	d.meta, d.acc = nil, nil
	d.count = [2]int{}
	for _, set := range d.subs {
		clear(set)
	}
	if d.err == nil {
		if next == stateClosed {
			d.err = c.b.errClosed
		} else {
			d.err = fmt.Errorf("redis %s: %w: the dedicated connection broke", c.b.cfg.Addr, backend.ErrConnLost)
		}
	}
	c.b.dconns.Delete(c)
}

// endTunnel returns a tunnel's closed function, once, with the error to give it. c.mu is
// held.
func (d *dedicated) endTunnel() (func(error), error) {
	f := d.closed
	d.closed = nil
	return f, d.err
}

// pubsubKinds are the first elements of the frames a subscribed connection receives
// unasked or as confirmations.
var pubsubKinds = map[string]bool{
	"message": true, "pmessage": true, "smessage": true,
	"subscribe": true, "psubscribe": true, "ssubscribe": true,
	"unsubscribe": true, "punsubscribe": true, "sunsubscribe": true,
}

// classify tells whether frame is a pub/sub frame rather than a reply: a RESP3 push,
// or, on a RESP2 connection that is subscribed or waits for confirmations, an array
// whose first element names a pub/sub event. It returns the decoded frame and its kind.
func (d *dedicated) classify(proto int, frame []byte) (resp.Value, string, bool) {
	switch {
	case frame[0] == '>':
	case frame[0] == '*' && proto == 2 &&
		(d.count[0]+d.count[1] > 0 || len(d.meta) > 0 && d.meta[0].frames > 0):
	default:
		return resp.Value{}, "", false
	}
	v, _, err := resp.ParseValue(frame, resp.Limits{})
	if err != nil || len(v.Elems) == 0 {
		return v, "", frame[0] == '>'
	}
	kind := string(bytes.ToLower(v.Elems[0].Str))
	return v, kind, frame[0] == '>' || pubsubKinds[kind]
}

// deliverDedicated hands each frame buf[from:ends[0]], ... to its command, or to the
// push function.
func (c *conn) deliverDedicated(gen uint64, buf []byte, from int, ends []int) error {
	d := c.ded
	for _, end := range ends {
		frame := buf[from:end]
		from = end
		c.mu.Lock()
		if c.state != stateUp || c.gen != gen {
			c.mu.Unlock()
			return errGone
		}
		v, kind, pubsub := d.classify(c.proto, frame)
		gathered := false // frame is d.acc
		confirm := pubsub && kind != "message" && kind != "pmessage" && kind != "smessage"
		if confirm && len(v.Elems) == 3 && v.Elems[2].Type == resp.TypeInteger {
			i := 0
			if kind[0] == 's' {
				i = 1
			}
			d.count[i] = int(v.Elems[2].Int)
		}
		switch {
		case confirm && len(d.meta) > 0 && d.meta[0].got < d.meta[0].frames:
			// A confirmation the oldest command waits for.
			d.acc = append(d.acc, frame...)
			d.meta[0].got++
			if d.meta[0].got < d.meta[0].frames {
				c.mu.Unlock()
				continue
			}
			frame, gathered = d.acc, true
		case pubsub:
			if kind == "sunsubscribe" && len(v.Elems) > 1 && d.subs[subShard] != nil {
				// Redis 7 sends sunsubscribe unprompted when a shard channel's slot moves.
				delete(d.subs[subShard], string(v.Elems[1].Str))
			}
			push := d.push
			c.mu.Unlock()
			if push != nil {
				push(c.reply(frame))
			}
			continue
		}
		done := c.queue.popN(c.cbs[:0], 1)
		if len(done) == 0 {
			c.mu.Unlock()
			return errUnexpected
		}
		c.popped++
		if frame[0] == '-' || frame[0] == '!' {
			d.refused(d.meta[0])
		} else if p := d.meta[0].proto; p != 0 {
			// HELLO succeeded: what follows comes in its protocol, and the connection
			// goes back to the idle pool of that protocol.
			c.proto, d.key.proto = p, p
		}
		d.meta = d.meta[1:]
		if len(d.meta) == 0 {
			d.meta = nil
		}
		var passed []barrier
		if len(c.barriers) > 0 {
			passed = c.passedBarriers()
		}
		c.mu.Unlock()
		reply := resp.Raw(frame) // gathered: d.acc, which is reused
		if !gathered {
			reply = c.reply(frame)
		}
		done[0](reply, nil)
		done[0] = nil
		c.cbs = done[:0]
		if gathered {
			c.mu.Lock()
			d.acc = d.acc[:0]
			c.mu.Unlock()
		}
		for _, b := range passed {
			b.done()
		}
	}
	return nil
}

// Dedicate lends the session of ctx a connection of its own, on ctx's event loop and in
// its protocol: an idle one given back earlier or dialled ahead (WarmIdle), or a new
// one, dialled in the background (commands wait for it). key is not used: a single
// server serves every key. See backend.Dedicator. Safe from any goroutine.
func (b *Backend) Dedicate(ctx context.Context, _ []byte, push func(resp.Value)) backend.Dedicated {
	lp, _ := backend.LoopFrom(ctx)
	key := idleKey{lp, backend.ProtocolFrom(ctx)}
	c := b.takeIdle(key)
	b.warm(key)
	if c != nil {
		c.mu.Lock()
		c.ded.push = push
		c.mu.Unlock()
		return &dedConn{c: c}
	}
	return &dedConn{c: b.dialDedicated(key, push, false)}
}

// dialDedicated makes a dedicated connection for key and dials it in the background;
// a warm one goes to the idle pool once up.
func (b *Backend) dialDedicated(key idleKey, push func(resp.Value), warm bool) *conn {
	c := &conn{b: b, log: b.log.With("dedicated", true), loop: key.lp, proto: key.proto,
		wake: make(chan struct{}, 1), state: stateConnecting, ded: &dedicated{key: key, push: push, warm: warm}}
	c.flushFn = c.flush
	b.lmu.Lock()
	if b.ctx.Err() != nil {
		c.state, c.ded.err = stateClosed, b.errClosed
	} else {
		b.dconns.Store(c, struct{}{})
		b.wg.Add(1)
		go c.runDedicated()
	}
	b.lmu.Unlock()
	return c
}

// warm dials connections ahead for key until WarmIdle are idle or on their way.
func (b *Backend) warm(key idleKey) {
	if b.cfg.WarmIdle <= 0 || b.ctx.Err() != nil {
		return
	}
	b.idleMu.Lock()
	if b.warming == nil {
		b.warming = map[idleKey]int{}
	}
	n := b.cfg.WarmIdle - len(b.idle[key]) - b.warming[key]
	if n > 0 {
		b.warming[key] += n
	}
	b.idleMu.Unlock()
	for range n {
		b.dialDedicated(key, nil, true)
	}
}

// warmed takes a connection dialled ahead into the idle pool once it is up, or counts
// it out if it failed.
func (b *Backend) warmed(c *conn, up bool) {
	b.idleMu.Lock()
	b.warming[c.ded.key]--
	b.idleMu.Unlock()
	if up {
		b.putIdle(c)
	}
}

// takeIdle returns an idle connection of key that is still up, or nil.
func (b *Backend) takeIdle(key idleKey) *conn {
	b.idleMu.Lock()
	defer b.idleMu.Unlock()
	list := b.idle[key]
	for len(list) > 0 {
		c := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		c.mu.Lock()
		up := c.state == stateUp
		c.mu.Unlock()
		if up {
			b.idle[key] = list
			return c
		}
	}
	delete(b.idle, key)
	return nil
}

// putIdle keeps c for reuse, or closes it when its pool is full.
func (b *Backend) putIdle(c *conn) {
	b.idleMu.Lock()
	if b.idle == nil {
		b.idle = map[idleKey][]*conn{}
	}
	list := b.idle[c.ded.key]
	if len(list) >= b.cfg.MaxIdle || b.ctx.Err() != nil {
		b.idleMu.Unlock()
		c.close()
		return
	}
	b.idle[c.ded.key] = append(list, c)
	b.idleMu.Unlock()
}

// runDedicated dials the connection once and serves it until it ends.
func (c *conn) runDedicated() {
	defer c.b.wg.Done()
	nc, err := c.dial()
	if err == nil && c.loop != nil {
		var quit chan struct{}
		if quit, err = c.attach(nc); err == nil {
			if c.ded.warm {
				c.b.warmed(c, true)
			}
			c.await(quit)
			return
		}
	}
	if err == nil {
		var gen uint64
		var quit chan struct{}
		if gen, quit, err = c.up(nc); err == nil {
			if c.ded.warm {
				c.b.warmed(c, true)
			}
			c.serve(nc, gen, quit)
			return
		}
	}
	if c.ded.warm {
		c.b.warmed(c, false)
	}
	if c.b.ctx.Err() != nil || (c.loop != nil && !c.loop.Post(func() {})) {
		// The backend or the loop stopped under the dial: a shutdown, not a failure.
		c.log.Debug("dedicated connection not made: stopping", "error", err)
	} else {
		c.log.Warn("dedicated connection failed", "error", err)
	}
	c.mu.Lock()
	if c.ded.err == nil {
		c.ded.err = c.b.errUnavailable
	}
	f := c.takeDown(stateClosed)
	c.mu.Unlock()
	f.finish(c.b.errUnavailable, c.b.errUnavailable)
}

// Tunnel dials a connection of its own for the session of ctx, on ctx's event loop and
// in its protocol, whose bytes go to recv as they arrive (see backend.Tunneler). key is
// not used: a single server serves every key. Safe from any goroutine.
func (b *Backend) Tunnel(ctx context.Context, _ []byte, recv func([]byte), closed func(error)) backend.Tunnel {
	lp, _ := backend.LoopFrom(ctx)
	c := &conn{b: b, log: b.log.With("tunnel", true), loop: lp, proto: backend.ProtocolFrom(ctx),
		wake: make(chan struct{}, 1), state: stateConnecting,
		ded: &dedicated{raw: recv, closed: closed}}
	c.flushFn = c.flush
	b.lmu.Lock()
	if b.ctx.Err() != nil {
		c.state, c.ded.err = stateClosed, b.errClosed
		b.lmu.Unlock()
		closed(b.errClosed)
		return &tunnel{c: c}
	}
	b.dconns.Store(c, struct{}{})
	b.wg.Add(1)
	go c.runDedicated()
	b.lmu.Unlock()
	return &tunnel{c: c}
}

// tunnel is a connection given to a client as a stream.
type tunnel struct{ c *conn }

var _ backend.Tunnel = (*tunnel)(nil)

// Write queues cmd, as it is, with no reply expected.
func (t *tunnel) Write(cmd resp.Command) {
	c := t.c
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.out.add(cmd)
	_ = c.queued()
}

// Close closes the connection.
func (t *tunnel) Close() { t.c.close() }

// dedConn is a dedicated connection as lent to a client.
type dedConn struct {
	c    *conn
	gone atomic.Bool // Release or Close was called
}

var _ backend.Dedicated = (*dedConn)(nil)

// Send queues cmd on the connection; see backend.Dedicated.
func (h *dedConn) Send(cmd resp.Command, timeout time.Duration, done func(resp.Value, error)) {
	if len(cmd.Args) == 0 {
		done(errEmpty, nil)
		return
	}
	if h.gone.Load() {
		done(resp.Value{}, h.c.b.errClosed)
		return
	}
	if err := h.c.sendEntry(cmd, done, timeout, false); err != nil {
		done(resp.Value{}, err)
	}
}

// Subscriptions returns the channels, patterns and shard channels the connection is
// subscribed to, counting the commands sent but not yet answered, and the
// unsubscriptions the server sent unasked.
func (h *dedConn) Subscriptions() int {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	return h.c.ded.subscriptions()
}

// Release gives the connection back for reuse when it is up, idle, subscribed to
// nothing and was sent no command that spends it (a login, CLIENT TRACKING...), and
// closes it otherwise.
func (h *dedConn) Release() {
	if h.gone.Swap(true) {
		return
	}
	c := h.c
	c.mu.Lock()
	c.ded.push = nil
	reuse := c.state == stateUp && c.queue.len() == 0 && c.ded.subscriptions() == 0 &&
		c.ded.count == [2]int{} && !c.ded.spent && c.b.cfg.MaxIdle > 0
	c.mu.Unlock()
	if reuse {
		c.b.putIdle(c)
	} else {
		c.close()
	}
}

// ServerID returns the connection's ID on the server (CLIENT ID), or 0 while it is
// being dialled. Safe from any goroutine.
func (h *dedConn) ServerID() int64 { return h.c.ded.serverID.Load() }

// Close closes the connection; waiting commands fail with ErrClosed.
func (h *dedConn) Close() {
	if h.gone.Swap(true) {
		return
	}
	h.c.close()
}
