package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"

	"github.com/redchain/redchain/internal/reclaim"
	"github.com/redchain/redchain/proxy/resp"
)

// Conn is one client connection.
//
// Its commands are served on its event loop, one at a time, in the order they arrived.
// Methods are loop-only (call them from a handler, or from a function given to Post)
// unless their doc says they are safe from any goroutine.
type Conn struct {
	srv    *Server
	gc     wire
	loop   *loop
	id     uint64
	remote net.Addr
	local  net.Addr
	opened time.Time
	ctx    context.Context
	cancel context.CancelFunc

	// Loop-only state.
	parser     resp.CommandParser
	in         []byte // received bytes; in[inOff:] is not parsed yet
	inOff      int
	head       uint64 // oldest command whose reply has not been flushed
	next       uint64 // next command to enter the chain
	tail       uint64 // next sequence number to assign
	held       int    // open holds; commands wait in the ring while > 0
	closing    bool   // no more input; close once every reply is flushed
	deferred   error  // an unauthenticated client's over-limit command, decided once the commands before it are answered
	closeSent  bool
	closed     bool
	keys       []any
	user       string
	proto      int // 0 until SetProtocol: RESP2
	beforeQuit []func(done func())
	iov        [][]byte
	wbuf       []byte
	pace       pacer // writes what the wire should not buffer at once
	replyEst   int   // about the size of this client's replies, lately: see canRead
	cmdBytes   int   // bytes of the commands in the ring
	reported   int64 // the use last reported to the budget (written under its mu)
	evicted    bool  // the budget closes it (guarded by the budget's mu)
	lastActive int64

	// mu guards what other goroutines touch: the ring's layout, each slot's writer and
	// reply, and the flags below.
	mu       sync.Mutex
	ring     []*slot     // len is a power of two; slot of seq is ring[seq&(len-1)]
	active   bool        // the loop is working on this connection and will flush it
	queued   bool        // on its loop's ready list
	dead     bool        // closed: replies are dropped
	stamp    uint64      // completions so far: orders pushes among replies
	oob      []pushFrame // pushes not yet written
	oobBytes int
	bypassed []string // see Request.Bypassed

	nBypassed atomic.Int32 // len(bypassed), read without mu
	unwritten atomic.Int64 // bytes of replies completed and not yet written
}

// wire is what a Conn writes its replies to: a gnet connection, or a pipeWire for a
// connection served by ServeConn. Its methods are called on the connection's loop but
// for Close, which is safe from any goroutine.
type wire interface {
	Write(b []byte) (int, error)
	Writev(bs [][]byte) (int, error)
	OutboundBuffered() int
	Close() error
}

var _ wire = gnet.Conn(nil)

// setWire makes w the connection's wire.
func (c *Conn) setWire(w wire) {
	c.gc = w
	c.pace = pacer{post: c.loop.post, resume: c.resume}
	c.pace.setWire(w)
}

// resume serves the connection again once its wire may take more: a paced reply goes
// on, input that waited for outbound room is read. Loop-only.
func (c *Conn) resume() {
	if !c.closed {
		c.run()
	}
}

// pushFrame is a frame written out of band (Conn.Push), after the replies completed before it.
type pushFrame struct {
	stamp uint64 // Conn.stamp when it was pushed
	frame []byte
}

// slot is one command in flight: its request, its writer and its encoded reply.
type slot struct {
	req    Request
	w      *slotWriter // guarded by Conn.mu
	open   bool        // guarded by Conn.mu: the writer may take the reply
	done   bool        // guarded by Conn.mu: out holds the reply
	stamp  uint64      // guarded by Conn.mu: Conn.stamp when it was completed
	out    []byte      // guarded by Conn.mu until done is seen
	preset bool        // loop-only: answered by the proxy before dispatch (protocol error)
	size   int         // loop-only: the command's size, in Conn.cmdBytes
	buf    []byte      // the command's bytes
	args   [][]byte
	start  int64 // when the command entered the chain, on the server clock
}

// Buffers bigger than these are dropped after use rather than kept for the next command,
// so that one big value does not pin memory for the life of the connection.
const (
	keepBuf  = 64 << 10
	keepArgs = 1024
)

// ID returns the connection's identifier, unique within the process. Safe from any
// goroutine.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr returns the client's address. Safe from any goroutine.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the address the client connected to. Safe from any goroutine.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// Opened returns when the connection was accepted. Safe from any goroutine.
func (c *Conn) Opened() time.Time { return c.opened }

// Idle returns how long ago the connection last sent data. Loop-only.
func (c *Conn) Idle() time.Duration { return time.Duration(c.srv.clock() - c.lastActive) }

// BeforeQuit has fn run when the client sends QUIT, before QUIT's reply is written: for
// what must end with the client before it is told it ended (a server connection it
// held, whose server releases the client's state when it ends), as Redis ends a client
// before it answers QUIT. fn runs on the loop and calls done once, from any goroutine,
// when that has ended; QUIT is answered once every fn has. Loop-only.
func (c *Conn) BeforeQuit(fn func(done func())) { c.beforeQuit = append(c.beforeQuit, fn) }

// CloseAfterReplies ends the connection as QUIT does: nothing more is read (commands
// already read and not yet served are dropped), and the connection closes once the
// replies of those served are written. For a command that ends its own client (CLIENT
// KILL of itself). Loop-only.
func (c *Conn) CloseAfterReplies() {
	c.drop(c.next)
	c.closing = true
	c.in, c.inOff = nil, 0
	c.mu.Lock()
	c.unlockAndWake() // from a function posted to the loop, nothing else would look
}

// Context returns the connection's context: the one its commands are served with, which
// is canceled when the connection closes. Safe from any goroutine.
func (c *Conn) Context() context.Context { return c.ctx }

// User returns the name the connection authenticated as, or "" before it did (or when
// no middleware authenticates). Middleware that act per user (rate limits, key
// namespaces) read it; an auth middleware sets it. Loop-only.
func (c *Conn) User() string { return c.user }

// SetUser records the name the connection authenticated as. Loop-only.
func (c *Conn) SetUser(name string) { c.user = name }

// SetAuthRequired limits the connection, while on, as Redis limits a client that must
// authenticate and has not: a command of more than 10 arguments, or with an argument
// longer than 16 KiB, is answered with Redis's protocol error ("Protocol error:
// unauthenticated multibulk length" or "... bulk length") and the connection closes,
// from the command's header, before its payload is buffered. Commands read before it
// are served first, so that one pipelined behind an AUTH is judged once the AUTH is
// answered, as Redis, which reads one command at a time, judges it; meanwhile at most
// MaxDeferredInput more bytes are kept. An auth middleware turns it on for a new
// connection and off when the client logs in. Loop-only.
func (c *Conn) SetAuthRequired(on bool) { c.parser.Unauthenticated = on }

// AuthRequired reports whether SetAuthRequired is on. Loop-only.
func (c *Conn) AuthRequired() bool { return c.parser.Unauthenticated }

// MaxDeferredInput bounds the input kept from a client whose command over the limits
// of SetAuthRequired waits for the commands before it (an AUTH being checked) to be
// answered; beyond it the command is refused at once.
const MaxDeferredInput = 1 << 20

// Protocol returns the protocol the client speaks: 2 (RESP2, every client's at first)
// or 3 (after HELLO 3). The handler that answers HELLO sets it (the router does); a
// middleware reads it to answer in the client's protocol (see resp.Value.RESP2).
// Loop-only.
func (c *Conn) Protocol() int {
	if c.proto == 0 {
		return 2
	}
	return c.proto
}

// SetProtocol records the protocol the client speaks from its next command on: 2 or 3.
// Loop-only.
func (c *Conn) SetProtocol(p int) { c.proto = p }

// Closed reports whether the connection has closed. Loop-only.
func (c *Conn) Closed() bool { return c.closed }

// Close closes the connection without waiting for replies still in flight. Safe from any
// goroutine.
func (c *Conn) Close() error { return c.gc.Close() }

// Post runs fn on the connection's event loop, after the current callback returns; never
// inline, even when called from the loop itself. It is how an asynchronous step comes back
// to touch loop-only state. fn runs even if the connection closed meanwhile (see Closed),
// but not once the server has stopped. A panic in fn is recovered and logged; a reply fn
// owed is then left to the reply timeout. Safe from any goroutine.
func (c *Conn) Post(fn func()) { c.loop.post(fn) }

// Hold stops the connection's later commands from entering the chain until release is
// called. Commands that arrive meanwhile wait in the connection's pending queue, in order;
// after release they enter the chain from its head. The command being served when Hold is
// called is not affected: it still owes its reply.
//
// The pending queue is bounded (WithMaxPending): when it is full the server stops reading
// the connection, so a client that keeps writing is slowed down, never dropped and never
// a cause of unbounded memory.
//
// Hold is loop-only. release is idempotent and safe from any goroutine; it takes effect on
// the loop, after the current callback returns.
func (c *Conn) Hold() (release func()) {
	c.held++
	var once atomic.Bool
	return func() {
		if once.Swap(true) {
			return
		}
		c.Post(func() {
			c.held--
			c.run()
		})
	}
}

// run does all the work the connection has: parse what was received, dispatch what may
// enter the chain, flush the replies that are ready in order, and repeat while flushing
// made room for more.
func (c *Conn) run() {
	if c.closed {
		return
	}
	now := c.srv.clock()
	for {
		c.mu.Lock()
		c.active = true
		c.queued = false
		c.mu.Unlock()
		c.parse()
		c.dispatch(now)
		flushed := c.flush()
		if c.closed {
			return
		}
		if flushed == 0 || !c.canRead() {
			break
		}
	}
	c.loop.publish()
	c.account()
	if c.owesOutput() {
		c.pace.watch() // look again once the client has read some
	}
	if c.closing && c.head == c.tail && !c.pace.busy() && !c.closeSent {
		c.closeSent = true
		_ = c.gc.Close()
	}
}

// canRead reports whether parsing more input is allowed now.
func (c *Conn) canRead() bool {
	o := &c.srv.opts
	return c.inOff < len(c.in) && !c.closing && !c.srv.draining.Load() &&
		(c.deferred == nil || c.tail == c.head) &&
		c.tail-c.head < uint64(o.maxInflight) && int(c.tail-c.next) < o.maxPending &&
		!c.outputFull()
}

// outputFull reports whether the client's output is at MaxOutbound: the reply bytes it
// has not read (those the wire buffers, those paced, those completed and not yet
// written) plus those it is owed by the commands in flight, each counted at the size of
// the client's recent replies (replyEst). So a client that pipelines commands with big
// replies and does not read is not sent more commands than MaxOutbound of replies,
// rather than having their replies pile up once they come. Loop-only.
func (c *Conn) outputFull() bool {
	max := c.srv.opts.maxOutbound
	if max <= 0 {
		return false
	}
	owed := int(c.tail-c.head) * c.replyEst
	return c.gc.OutboundBuffered()+c.pace.queued+int(c.unwritten.Load())+owed >= max
}

// owesOutput reports whether input waits for the client to read its output: nothing
// else would serve it again once it has. Loop-only.
func (c *Conn) owesOutput() bool {
	return c.inOff < len(c.in) && !c.closing && c.outputFull()
}

// estimate folds the size of a reply just written into replyEst: up at once to a
// bigger reply, down by a quarter of the difference per smaller one. A new connection
// starts as if its replies were MaxOutbound/64, so that its first burst of commands is
// sent 64 at a time until its replies show their size (a few round trips, once).
func (c *Conn) estimate(n int) {
	if n >= c.replyEst {
		c.replyEst = n
	} else {
		c.replyEst -= (c.replyEst - n + 3) / 4
	}
}

// parse turns received bytes into pending commands while the ring has room.
func (c *Conn) parse() {
	for c.canRead() {
		c.deferred = nil
		cmd, n, err := c.parser.Parse(c.in[c.inOff:])
		if err != nil && c.tail > c.head && errors.Is(err, resp.ErrUnauthenticated) {
			c.deferred = err // judged again once the commands before it are answered
			break
		}
		if err != nil {
			c.fail(resp.ErrorFrom(err))
			break
		}
		if n == 0 {
			if max := c.srv.opts.maxQueryBuffer; max > 0 && len(c.in)-c.inOff > max {
				c.fail(errQueryBuffer)
			}
			break
		}
		c.inOff += n
		if len(cmd.Args) == 0 {
			continue // an empty line or *0: Redis skips these
		}
		if n >= resp.BigFrame && cmd.Raw != nil {
			// The slot takes the bytes where they are, and the input goes on in a
			// buffer of its own: a big value is not copied.
			s := c.push()
			s.adopt(cmd)
			c.parser.Release()
			s.size = n
			c.cmdBytes += n
			c.in, c.inOff = append([]byte(nil), c.in[c.inOff:]...), 0
			continue
		}
		s := c.push()
		s.load(cmd)
		s.size = n
		c.cmdBytes += n
	}
	// Keep the unparsed rest at the front of the buffer, moving it only when that halves
	// the buffer, so that a big command arriving in pieces is not copied over and over.
	switch {
	case c.inOff == len(c.in):
		if n := cap(c.in); n > keepBuf {
			c.in = nil
			reclaim.Dropped(n)
		} else {
			c.in = c.in[:0]
		}
		c.inOff = 0
	case c.inOff > len(c.in)/2:
		c.in = c.in[:copy(c.in, c.in[c.inOff:])]
		c.inOff = 0
	}
}

// fail answers, after every earlier reply, with v, and closes the connection: the input
// cannot be trusted past a protocol error.
func (c *Conn) fail(v resp.Value) {
	s := c.push()
	s.preset = true
	s.args = s.args[:0]
	s.req.cmd = resp.Command{}
	s.req.name = s.req.name[:0]
	c.mu.Lock()
	s.out = v.AppendTo(s.out[:0])
	c.unwritten.Add(int64(len(s.out)))
	s.done = true
	c.stamp++
	s.stamp = c.stamp
	c.mu.Unlock()
	c.closing = true
	c.in, c.inOff = nil, 0
}

// push returns the slot of a new command at tail, growing the ring if it is full.
func (c *Conn) push() *slot {
	if c.tail-c.head == uint64(len(c.ring)) {
		c.grow()
	}
	s := c.ring[c.tail&uint64(len(c.ring)-1)]
	s.req.seq = c.tail
	s.req.chain.Store(chainNone)
	s.req.bypassed = nil
	s.req.wait = 0
	s.preset = false
	s.size = 0
	c.tail++
	c.loop.inflight++
	c.loop.pending++
	return s
}

// grow doubles the ring, keeping each live slot at its sequence number's new index.
func (c *Conn) grow() {
	n := 2 * len(c.ring)
	if n == 0 {
		n = initialRing
	}
	ring := make([]*slot, n)
	for seq := c.head; seq < c.tail; seq++ {
		ring[seq&uint64(n-1)] = c.ring[seq&uint64(len(c.ring)-1)]
	}
	for i := range ring {
		if ring[i] == nil {
			ring[i] = &slot{w: newSlotWriter(c), req: Request{conn: c}}
		}
	}
	c.mu.Lock()
	c.ring = ring
	c.mu.Unlock()
}

// initialRing is the ring's first size; it doubles on demand up to MaxInflight, so an
// idle connection costs little.
const initialRing = 4

// load copies cmd into the slot, which owns its bytes from then on.
func (s *slot) load(cmd resp.Command) {
	s.args = s.args[:0]
	if raw := cmd.Raw; raw != nil {
		s.buf = append(s.buf[:0], raw...)
		base := uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
		for _, a := range cmd.Args {
			// Args point into Raw: keep the same offsets in the copy.
			off := int(uintptr(unsafe.Pointer(unsafe.SliceData(a))) - base)
			if off < 0 || off+len(a) > len(raw) {
				s.loadArgs(cmd.Args)
				return
			}
			s.args = append(s.args, s.buf[off:off+len(a):off+len(a)])
		}
		s.req.cmd = resp.Command{Args: s.args, Raw: s.buf}
	} else {
		s.loadArgs(cmd.Args)
	}
	s.req.name = appendLower(s.req.name[:0], s.args[0])
}

// adopt makes cmd the slot's command without copying it: the slot owns cmd's bytes
// from then on, and hands them over with the command (Owned): nothing writes to them
// again, since a buffer this big is dropped, not reused, once the command is answered.
func (s *slot) adopt(cmd resp.Command) {
	s.buf, s.args = cmd.Raw, append(s.args[:0], cmd.Args...)
	s.req.cmd = resp.Command{Args: s.args, Raw: s.buf, Owned: true}
	s.req.name = appendLower(s.req.name[:0], s.args[0])
}

// loadArgs copies arguments that do not come with their raw encoding.
func (s *slot) loadArgs(args [][]byte) {
	s.buf = s.buf[:0]
	for _, a := range args {
		s.buf = append(s.buf, a...)
	}
	s.args = s.args[:0]
	off := 0
	for _, a := range args {
		s.args = append(s.args, s.buf[off:off+len(a):off+len(a)])
		off += len(a)
	}
	s.req.cmd = resp.Command{Args: s.args}
	s.req.name = appendLower(s.req.name[:0], s.args[0])
}

// dispatch passes pending commands into the chain, in order, until one holds the
// connection.
func (c *Conn) dispatch(now int64) {
	for c.next < c.tail && c.held == 0 && !c.closed {
		s := c.ring[c.next&uint64(len(c.ring)-1)]
		c.next++
		c.loop.pending--
		if s.preset {
			continue
		}
		c.mu.Lock()
		s.w.seq = s.req.seq
		s.open = true
		c.mu.Unlock()
		s.start = now
		if s.req.Is("quit") {
			// QUIT is the proxy's own: answer it once what ends with the client has
			// ended, drop what was pipelined after it, and close once the replies before
			// it are out.
			fns, w := c.beforeQuit, s.w
			c.beforeQuit = nil
			var left atomic.Int32
			left.Store(int32(len(fns)) + 1)
			done := func() {
				if left.Add(-1) == 0 {
					w.WriteReply(resp.OK)
				}
			}
			for _, fn := range fns {
				fn(done)
			}
			done()
			c.drop(c.next)
			c.closing = true
			c.in, c.inOff = nil, 0
			return
		}
		c.serve(s)
	}
}

// drop forgets the pending commands from seq on.
func (c *Conn) drop(seq uint64) {
	if n := c.tail - seq; n > 0 {
		for i := seq; i < c.tail; i++ {
			s := c.ring[i&uint64(len(c.ring)-1)]
			c.cmdBytes -= s.size
			s.reset()
		}
		c.loop.inflight -= int(n)
		c.loop.pending -= int(c.tail - max(seq, c.next))
		c.tail = seq
		if c.next > seq {
			c.next = seq
		}
	}
}

// serve runs the chain for one command.
func (c *Conn) serve(s *slot) {
	Serve(c.ctx, c.srv.handler, s.w, &s.req)
}

// complete takes the reply of w's command. Any goroutine.
func (c *Conn) complete(w *slotWriter, v resp.Value) bool {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return false
	}
	s := c.ring[w.seq&uint64(len(c.ring)-1)]
	if s.w != w || !s.open {
		late := s.w != w
		c.mu.Unlock()
		c.srv.rejected(c, late)
		return false
	}
	if s.req.chain.Load() == chainEntered && !s.preset {
		c.bypass(s.req.name) // rare: a middleware of a chain answered
	}
	if v.Owned && len(v.Raw) >= resp.BigFrame {
		s.out = v.Raw[:len(v.Raw):len(v.Raw)] // handed over: kept, not copied
	} else {
		s.out = v.AppendTo(s.out[:0])
	}
	c.unwritten.Add(int64(len(s.out)))
	s.open = false
	s.done = true
	c.stamp++
	s.stamp = c.stamp
	c.unlockAndWake()
	return true
}

// bypass records name for Request.Bypassed: once, and up to maxBypassed names but for
// EXEC and DISCARD, which end a transaction whatever came before. c.mu is held.
func (c *Conn) bypass(name []byte) {
	for _, n := range c.bypassed {
		if n == string(name) {
			return
		}
	}
	if len(c.bypassed) < maxBypassed || string(name) == "exec" || string(name) == "discard" {
		c.bypassed = append(c.bypassed, string(name))
		c.nBypassed.Store(int32(len(c.bypassed)))
	}
}

// takeBypassed returns the names of the commands answered before they reached the end
// of the chain, since the last call. Loop-only.
func (c *Conn) takeBypassed() []string {
	if c.nBypassed.Load() == 0 {
		return nil
	}
	c.mu.Lock()
	b := c.bypassed
	c.bypassed = nil
	c.nBypassed.Store(0)
	c.mu.Unlock()
	return b
}

// unlockAndWake releases c.mu and, unless the loop is already working on c or has it
// queued, queues c on its loop to flush what was just completed or pushed. c.mu is held.
func (c *Conn) unlockAndWake() {
	wake := !c.active && !c.queued
	if wake {
		c.queued = true
	}
	c.mu.Unlock()
	if wake {
		c.loop.ready(c)
	}
}

// flush writes the replies that are ready, in order, and frees their slots; pushes go
// out with them, each after the replies completed before it.
func (c *Conn) flush() int {
	c.mu.Lock()
	c.active = false
	mask := uint64(len(c.ring) - 1)
	seq := c.head
	oob := c.oob
	written := 0
	for seq < c.next {
		s := c.ring[seq&mask]
		if !s.done {
			break
		}
		for len(oob) > 0 && oob[0].stamp < s.stamp {
			c.iov = append(c.iov, oob[0].frame)
			oob = oob[1:]
		}
		s.done = false
		c.iov = append(c.iov, s.out)
		written += len(s.out)
		c.estimate(len(s.out))
		if cap(s.out) > keepBuf {
			s.out = nil // the slot would drop it: the write takes it over (see write)
		}
		seq++
	}
	c.unwritten.Add(-int64(written))
	for _, p := range oob {
		c.iov = append(c.iov, p.frame)
	}
	pushed := len(c.oob) > 0
	if pushed {
		c.oob, c.oobBytes = nil, 0
	}
	c.mu.Unlock()
	n := int(seq - c.head)
	if n == 0 && !pushed {
		return 0
	}
	if !c.closed {
		c.write()
		if pushed && c.gc.OutboundBuffered()+c.pace.queued > MaxPushBuffer {
			c.dropSlowReader()
		}
	}
	clear(c.iov)
	c.iov = c.iov[:0]
	if c.closed {
		// gnet closes the connection inside Write when the write fails; OnClose
		// (closeLoop) has already discounted every command in flight, these included.
		return n
	}
	for ; c.head < seq; c.head++ {
		s := c.ring[c.head&mask]
		c.cmdBytes -= s.size
		s.reset()
	}
	if n > 0 {
		c.loop.inflight -= n
		c.loop.drained()
	}
	return n
}

// dropSlowReader closes a client that lets its pushes pile up beyond MaxPushBuffer.
func (c *Conn) dropSlowReader() {
	c.srv.opts.logger.Warn("client does not read its pushes; closing", "conn", c.id, "limit", MaxPushBuffer)
	_ = c.gc.Close()
}

// MaxPushBuffer bounds the pushes (Conn.Push) waiting to be written to one client: a
// client that does not read its pub/sub messages fast enough is disconnected beyond it,
// as Redis does with its client-output-buffer-limit for pub/sub clients.
const MaxPushBuffer = 32 << 20

// Push writes v to the client out of band: it takes no Seq and answers no command. It
// is how pub/sub messages and the server's own pushes reach a client. v goes out after
// the replies of this connection that were completed before Push was called and are not
// held back by an earlier command, and before the replies completed after it; pushes
// keep their order. v is copied. Push reports false when the connection has closed, or
// when the client let MaxPushBuffer of pushes pile up (the connection is then closed).
// Safe from any goroutine.
func (c *Conn) Push(v resp.Value) bool {
	frame := v.AppendTo(nil)
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return false
	}
	if c.oobBytes+len(frame) > MaxPushBuffer {
		c.mu.Unlock()
		c.dropSlowReader()
		return false
	}
	c.oob = append(c.oob, pushFrame{stamp: c.stamp, frame: frame})
	c.oobBytes += len(frame)
	c.unlockAndWake()
	return true
}

// write sends the collected replies. Small ones are copied into one buffer for a single
// write: the kernel's writev costs more than the copy, and gnet's Writev allocates. Big
// ones go through the pacer, handed over: a buffer over keepBuf is a push frame or a
// reply that its slot let go (flush), which nothing writes to again.
func (c *Conn) write() {
	total := 0
	for _, b := range c.iov {
		total += len(b)
	}
	if c.pace.busy() || total > c.pace.room() {
		for _, b := range c.iov {
			c.pace.write(b, cap(b) > keepBuf)
		}
		return
	}
	if len(c.iov) == 1 {
		_, _ = c.gc.Write(c.iov[0])
		return
	}
	if total > keepBuf {
		_, _ = c.gc.Writev(c.iov)
		return
	}
	c.wbuf = c.wbuf[:0]
	for _, b := range c.iov {
		c.wbuf = append(c.wbuf, b...)
	}
	_, _ = c.gc.Write(c.wbuf)
}

// reset readies a flushed slot for its next command.
func (s *slot) reset() {
	dropped := 0
	if n := cap(s.buf); n > keepBuf {
		clear(s.args) // they point into buf
		s.buf, s.args, dropped = nil, s.args[:0], n
	}
	if n := cap(s.out); n > keepBuf {
		s.out, dropped = nil, dropped+n
	}
	if cap(s.args) > keepArgs {
		s.args = nil
	}
	s.req.cmd = resp.Command{}
	reclaim.Dropped(dropped) // now that nothing here holds the buffers
}

// expire answers, with a timeout error, the commands that have waited longer than the
// reply timeout (or their own, Request.AllowReplyAfter). Their writers are replaced, so
// a reply that comes later is refused.
func (c *Conn) expire(now, timeout int64) {
	mask := uint64(len(c.ring) - 1)
	expired := false
	c.mu.Lock()
	for seq := c.head; seq < c.next; seq++ {
		s := c.ring[seq&mask]
		limit := max(timeout, int64(s.req.wait))
		if s.open && s.req.wait >= 0 && now-s.start >= limit {
			s.open = false
			s.done = true
			s.out = errReplyTimeout.AppendTo(s.out[:0])
			c.unwritten.Add(int64(len(s.out)))
			c.stamp++
			s.stamp = c.stamp
			s.w = newSlotWriter(c)
			expired = true
		}
	}
	c.mu.Unlock()
	if expired {
		c.srv.opts.logger.Warn("reply timeout", "conn", c.id, "timeout", c.srv.opts.replyTimeout)
		c.run()
	}
}

// closeLoop releases the connection's state; gnet calls it through OnClose.
func (c *Conn) closeLoop() {
	c.closed = true
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	c.cancel()
	c.loop.inflight -= int(c.tail - c.head)
	c.loop.pending -= int(c.tail - c.next)
	c.head, c.next = c.tail, c.tail
	n := cap(c.in)
	c.in = nil
	reclaim.Dropped(n)
	c.pace.reset()
	c.cmdBytes = 0
	c.unaccount()
	delete(c.loop.conns, c)
	c.loop.publish()
	c.loop.drained()
}

// ConnKey is a typed key for per-connection state, such as "authenticated as". Make
// one per purpose with NewConnKey, usually in a package-level variable.
type ConnKey[T any] struct{ idx int }

var connKeys atomic.Int64

// NewConnKey returns a new key, distinct from every other.
func NewConnKey[T any]() ConnKey[T] { return ConnKey[T]{idx: int(connKeys.Add(1))} }

// Get returns the value stored under k on c, or T's zero value. Loop-only.
func (k ConnKey[T]) Get(c *Conn) T {
	if k.idx < len(c.keys) {
		if v, ok := c.keys[k.idx].(T); ok {
			return v
		}
	}
	var zero T
	return zero
}

// Set stores v under k on c. Loop-only.
func (k ConnKey[T]) Set(c *Conn, v T) {
	if k.idx == 0 {
		panic("proxy: ConnKey not made by NewConnKey")
	}
	for len(c.keys) <= k.idx {
		c.keys = append(c.keys, nil)
	}
	c.keys[k.idx] = v
}
