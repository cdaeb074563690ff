package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/internal/reclaim"
	"github.com/redchain/redchain/proxy/resp"
)

// Read buffer sizes.
const (
	readSize    = 16 << 10 // initial size of a read buffer
	minRead     = 4 << 10  // the least free space a read gets
	maxKeep     = 1 << 20  // buffers above this size are given back once idle
	shrinkAfter = 64       // after this many drained reads that did not need them
)

var (
	// errGone: the connection went down while its reader was busy; whoever took it
	// down has failed its commands and logged why.
	errGone = errors.New("connection taken down")
	// errUnexpected: the server sent a reply no command waits for.
	errUnexpected = errors.New("reply with no command waiting")
)

type state uint8

const (
	stateDown       state = iota // reconnecting: Send fails with ErrUnavailable
	stateUp                      // Send queues commands
	stateClosed                  // Send fails with ErrClosed, for good
	stateConnecting              // a loop connection's first attempt: Send queues commands
)

// conn is one connection to the server, reconnected as often as needed by its run
// goroutine, which is also its reader; a writer goroutine serves each socket.
//
// A socket's life is a generation (gen): it starts when run marks the connection up and
// ends when someone takes it down (fail, checkTimeout, close) under mu, which drains the
// queue, closes the socket and quit, and makes every goroutine of that generation stop
// touching the queue.
type conn struct {
	b     *Backend
	log   hclog.Logger
	wake  chan struct{} // capacity 1: there is something to write
	proto int           // the RESP version the connection speaks: 2 or 3
	ded   *dedicated    // set on a dedicated connection (dedicated.go)

	mu     sync.Mutex
	state  state
	gen    uint64
	nc     net.Conn      // while up
	quit   chan struct{} // while up; closed when the generation ends
	out    outq          // commands queued but not yet handed to the writer
	queue  ring          // callbacks of the commands written or queued, oldest first
	popped uint64        // replies delivered since the start: identifies the queue's head
	// Barriers waiting for the replies up to a count of popped (Backend.Barrier).
	barriers []barrier

	// Owned by the reader (run).
	parser resp.ReplyParser
	rbuf   []byte
	ends   []int      // where the frames of one read end
	cbs    []callback // their callbacks
	idle   int        // drained reads that did not need a buffer above maxKeep
	handed bool       // rbuf holds a frame handed over (reply): it is never written again

	// A connection on an event loop (see loop.go) has these instead of its own
	// goroutines: the socket's write and close, guarded by mu.
	loop        backend.Loop
	lwrite      func([]byte, bool)
	lclose      func() error
	flushPosted bool   // a flush is posted to the loop
	flushFn     func() // c.flush, bound once
	spare       outq   // the write queue's storage not in use
	rgen        uint64 // loop-only: the generation rbuf and parser belong to

	checking bool // a health check runs (abandon)

	// Owned by the watch goroutine: the head it saw waiting, and since when.
	watchGen, watchHead uint64
	watchSince          time.Time
}

// send queues cmd and done, or returns the error to give done.
func (c *conn) send(cmd resp.Command, done callback) error {
	return c.sendEntry(cmd, done, 0, false)
}

// sendAsking queues ASKING and cmd back to back; done gets cmd's reply.
func (c *conn) sendAsking(cmd resp.Command, done callback) error {
	return c.sendEntry(cmd, done, 0, true)
}

var askingCmd = resp.NewCommand("ASKING")

// dropReply is the callback of a command whose reply tells nothing (ASKING's).
func dropReply(resp.Value, error) {}

// sendEntry queues cmd and done (after ASKING, if asking), with, for a dedicated
// connection, the command's timeout.
func (c *conn) sendEntry(cmd resp.Command, done callback, timeout time.Duration, asking bool) error {
	c.mu.Lock()
	switch {
	case c.state == stateClosed:
		c.mu.Unlock()
		if c.ded != nil && c.ded.err != nil {
			return c.ded.err
		}
		return c.b.errClosed
	case c.state == stateDown:
		c.mu.Unlock()
		return c.b.errUnavailable
	case c.queue.len() >= c.b.cfg.MaxPending:
		c.mu.Unlock()
		return c.b.errBusy
	}
	if d := c.ded; d != nil {
		e := entry{timeout: timeout}
		if kind, unsub, ok := subCommand(cmd.Args); ok {
			e.kind = kind
			e.frames, e.added = d.expect(kind, unsub, cmd.Args[1:])
		}
		e.proto = helloProto(cmd.Args)
		d.meta = append(d.meta, e)
		if !d.spent && spends(cmd.Args) {
			d.spent = true
		}
	}
	if asking {
		c.out.add(askingCmd)
		c.queue.push(dropReply)
	}
	c.out.add(cmd)
	c.queue.push(done)
	return c.queued()
}

// queued has the commands queued so far written; c.mu is held, and released.
func (c *conn) queued() error {
	if c.loop != nil {
		// One write per turn of the loop, for all the commands queued in that turn.
		post := c.state == stateUp && !c.flushPosted
		c.flushPosted = c.flushPosted || post
		gen := c.gen
		c.mu.Unlock()
		if post && !c.loop.Post(c.flushFn) {
			c.fail(gen, errLoopStopped)
		}
		return nil
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // the writer has been woken already
	}
	return nil
}

// run connects, serves the connection until it breaks, and reconnects, until Close.
// firstDone is called after the first connection attempt.
func (c *conn) run(firstDone func()) {
	defer c.b.wg.Done()
	var once sync.Once
	first := func() { once.Do(firstDone) }
	defer first()
	c.supervise(func() (func(), error) {
		nc, err := c.dial()
		var gen uint64
		var quit chan struct{}
		if err == nil {
			gen, quit, err = c.up(nc)
		}
		first()
		if err != nil {
			return nil, err
		}
		return func() { c.serve(nc, gen, quit) }, nil
	}, c.attemptFailed)
}

// serve runs socket nc of generation gen with a writer goroutine and this one as its
// reader, until the generation ends.
func (c *conn) serve(nc net.Conn, gen uint64, quit chan struct{}) {
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		c.writeLoop(nc, gen, quit)
	}()
	c.fail(gen, c.readLoop(nc, gen))
	<-wrote
}

// supervise keeps the connection up until Close. connect makes one attempt (dial, the
// handshake, and taking the socket into service) and returns serve, which runs until
// that socket's generation ends. failed hears of each failed attempt and returns false
// to give up for good.
func (c *conn) supervise(connect func() (serve func(), err error), failed func(error) bool) {
	connected := false
	for attempt := 0; ; {
		serve, err := connect()
		if c.b.ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failed(err) {
				return
			}
			// Say it once per outage; the attempts that follow are details.
			if attempt == 0 {
				c.log.Warn("connect failed; retrying in the background", "error", err)
			} else {
				c.log.Debug("connect failed", "error", err, "attempt", attempt+1)
			}
			if !c.b.sleep(c.b.backoff(attempt)) {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		if connected {
			c.b.reconnects.Add(1)
		}
		connected = true
		c.log.Info("connected")
		serve()
		// Wait a little even after a connection that worked, so that a server that
		// accepts and drops connections at once is not hammered.
		if !c.b.sleep(c.b.backoff(0)) {
			return
		}
	}
}

// dial opens a socket and runs the handshake on it, within DialTimeout.
func (c *conn) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(c.b.ctx, c.b.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.b.cfg.Addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // Go's default already; we rely on it
	}
	hello := c.b.hello[c.proto/3]
	if c.ded != nil && c.ded.raw == nil {
		// A dedicated connection knows its ID on the server, which the server's
		// CLIENT UNBLOCK and CLIENT TRACKING REDIRECT name it by.
		hello = append(hello[:len(hello):len(hello)], clientIDCmd)
	}
	if len(hello) > 0 {
		// Interrupt the handshake at the timeout or on Close.
		stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
		var id int64
		id, err = handshake(nc, hello)
		if !stop() && err == nil {
			err = ctx.Err() // the deadline may have been set: do not use this socket
		}
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		if c.ded != nil {
			c.ded.serverID.Store(id)
		}
	}
	return nc, nil
}

var clientIDCmd = resp.NewCommand("CLIENT", "ID")

// handshake sends cmds and checks that each is answered +OK (HELLO: anything but an
// error; CLIENT ID: an integer, which it returns). An error reply (a wrong password, a
// DB out of range) is returned as an error.
func handshake(nc net.Conn, cmds []resp.Command) (id int64, err error) {
	var out []byte
	for _, cmd := range cmds {
		out = cmd.AppendTo(out)
	}
	if _, err := nc.Write(out); err != nil {
		return 0, err
	}
	var p resp.ReplyParser
	var buf []byte
	for _, cmd := range cmds {
		for {
			n, err := p.Next(buf)
			if err != nil {
				return 0, err
			}
			if n > 0 {
				frame := string(buf[:n])
				name := strings.ToUpper(string(cmd.Args[0]))
				switch {
				case name == "HELLO" && frame[0] != '-', name != "HELLO" && frame == "+OK\r\n":
				case name == "CLIENT":
					// Its ID, or an error (-BUSY while a script runs): not known then.
					if frame[0] == ':' {
						id, _ = strconv.ParseInt(strings.TrimSpace(frame[1:]), 10, 64)
					}
				default:
					return 0, fmt.Errorf("%s refused: %s", cmd.Args[0], strings.TrimSpace(frame))
				}
				buf = buf[n:]
				break
			}
			buf = slices.Grow(buf, 512)
			m, err := nc.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if err != nil {
				return 0, err
			}
		}
	}
	return id, nil
}

// up marks the connection up with socket nc and returns the new generation.
func (c *conn) up(nc net.Conn) (uint64, chan struct{}, error) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		_ = nc.Close()
		return 0, nil, c.b.errClosed
	}
	c.gen++
	c.state, c.nc, c.quit = stateUp, nc, make(chan struct{})
	gen, quit := c.gen, c.quit
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}: // commands queued while connecting
	default:
	}
	return gen, quit, nil
}

// writeLoop writes what Send queues, all that is queued at a time in one write,
// until the generation ends.
func (c *conn) writeLoop(nc net.Conn, gen uint64, quit <-chan struct{}) {
	var spare outq
	for {
		select {
		case <-c.wake:
		case <-quit:
			return
		}
		c.mu.Lock()
		if c.state != stateUp || c.gen != gen {
			c.mu.Unlock()
			return
		}
		w := c.out.take(spare)
		c.mu.Unlock()
		if err := w.writeTo(nc); err != nil {
			c.fail(gen, err)
			return
		}
		spare = w.reuse()
	}
}

// readLoop reads replies and hands each to its command's callback until the socket
// fails or the generation ends. It returns why it stopped.
func (c *conn) readLoop(nc net.Conn, gen uint64) error {
	c.parser.Reset()
	buf, start := c.rbuf[:0], 0 // buf[start:] is not parsed yet
	defer func() { c.rbuf = buf[:0] }()
	for {
		if start == len(buf) {
			buf, start = c.drained(buf), 0
		}
		if need := c.bigNeed(); cap(buf)-len(buf) < max(minRead, need) {
			buf, start = room(buf, start, need), 0
		}
		n, rerr := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]

		var err error
		start, err = c.consume(gen, buf, start)
		if c.handed {
			buf, start = c.handOff(buf[start:]), 0
		}
		if err != nil {
			return err
		}
		if rerr != nil {
			return rerr
		}
	}
}

// consume delimits the complete replies in buf[start:], hands them to their callbacks,
// and returns where the first incomplete one starts. A malformed reply, or a reply nobody
// waits for, is an error (after the replies before it were delivered).
func (c *conn) consume(gen uint64, buf []byte, start int) (int, error) {
	if c.ded != nil && c.ded.raw != nil {
		c.ded.raw(buf[start:]) // a tunnel: bytes as they come
		return len(buf), nil
	}
	from := start
	ends := c.ends[:0]
	var perr error
	for start < len(buf) {
		m, err := c.parser.Next(buf[start:])
		if err != nil {
			perr = err
			break
		}
		if m == 0 {
			break
		}
		start += m
		ends = append(ends, start)
	}
	c.ends = ends
	if len(ends) > 0 {
		if err := c.deliver(gen, buf, from, ends); err != nil {
			return start, err
		}
	}
	return start, perr
}

// deliver hands the frames buf[from:ends[0]], buf[ends[0]:ends[1]]... to the oldest
// callbacks, taking them from the queue under one lock. A RESP3 push frame answers no
// command: a shared connection has no subscription, so it is dropped.
func (c *conn) deliver(gen uint64, buf []byte, from int, ends []int) error {
	if c.ded != nil {
		return c.deliverDedicated(gen, buf, from, ends)
	}
	replies := len(ends)
	if c.proto == 3 {
		start := from
		for _, end := range ends {
			if buf[start] == '>' {
				replies--
			}
			start = end
		}
	}
	c.mu.Lock()
	if c.state != stateUp || c.gen != gen {
		c.mu.Unlock()
		return errGone
	}
	cbs := c.queue.popN(c.cbs[:0], replies)
	c.popped += uint64(len(cbs))
	var passed []barrier
	if len(c.barriers) > 0 {
		passed = c.passedBarriers()
	}
	c.mu.Unlock()
	i := 0
	for _, end := range ends {
		frame := buf[from:end]
		from = end
		if c.proto == 3 && frame[0] == '>' {
			c.log.Debug("push on a shared connection dropped", "frame", resp.Raw(frame))
			continue
		}
		if i == len(cbs) {
			break
		}
		if cbs[i] != nil { // nil: a command abandoned after a timeout
			cbs[i](c.reply(frame), nil)
			cbs[i] = nil
		}
		i++
	}
	c.cbs = cbs[:0]
	for _, b := range passed {
		b.done()
	}
	if len(cbs) < replies {
		return errUnexpected
	}
	return nil
}

// barrier is a Backend.Barrier waiting for the replies up to a count of popped.
type barrier struct {
	popped uint64
	done   func()
}

// barrier calls done once the commands queued so far are answered or failed.
func (c *conn) barrier(done func()) {
	c.mu.Lock()
	if c.queue.len() == 0 {
		c.mu.Unlock()
		done()
		return
	}
	c.barriers = append(c.barriers, barrier{popped: c.popped + uint64(c.queue.len()), done: done})
	c.mu.Unlock()
}

// passedBarriers removes and returns the barriers whose commands are all answered.
// c.mu is held.
func (c *conn) passedBarriers() []barrier {
	var passed []barrier
	keep := c.barriers[:0]
	for _, b := range c.barriers {
		if b.popped <= c.popped {
			passed = append(passed, b)
		} else {
			keep = append(keep, b)
		}
	}
	clear(c.barriers[len(keep):])
	c.barriers = keep
	return passed
}

// reply returns frame, which lies in the read buffer, as the value to give its callback.
// A big frame is handed over (resp.Value.Owned), so that its taker keeps it rather than
// copy it: the buffer is then never written again (see handOff).
func (c *conn) reply(frame []byte) resp.Value {
	if len(frame) < resp.BigFrame {
		return resp.Raw(frame)
	}
	c.handed = true
	return resp.RawOwned(frame[:len(frame):len(frame)]) // an append by its taker stays in it
}

// handOff returns a new read buffer that holds rest, the unparsed end of a buffer that
// holds a frame handed over, which must not be written again.
func (c *conn) handOff(rest []byte) []byte {
	c.handed = false
	if len(rest) == 0 {
		return nil
	}
	return append(make([]byte, 0, max(readSize, len(rest)+minRead)), rest...)
}

// bigNeed returns how many more bytes the reply in progress is known to need when that is
// resp.BigFrame or more, else 0: a big reply gets a buffer of its size at once (room),
// rather than one doubled step by step, each step a copy and garbage.
func (c *conn) bigNeed() int {
	if n := c.parser.Missing(); n >= resp.BigFrame {
		return n
	}
	return 0
}

// drained returns buf emptied, or a smaller buffer once a huge one has not been needed
// for a while.
func (c *conn) drained(buf []byte) []byte {
	switch {
	case cap(buf) <= maxKeep:
	case len(buf) > maxKeep:
		c.idle = 0
	default:
		if c.idle++; c.idle >= shrinkAfter {
			c.idle = 0
			return make([]byte, 0, readSize)
		}
	}
	return buf[:0]
}

// room returns a buffer that holds buf[start:] at its start and has at least minRead
// bytes free: buf itself with its unparsed bytes moved to the front, or, when they fill
// more than half of it, a buffer twice as large. When the reply in progress is known to
// need more (need, from bigNeed), there is room for all of it and minRead more, so that
// the next header fits too. The parser allows its input to move.
func room(buf []byte, start, need int) []byte {
	rest := buf[start:]
	size := cap(buf)
	switch {
	case need > 0:
		size = max(size, len(rest)+need+minRead)
	case len(rest)+minRead > size/2:
		size = max(readSize, 2*size, len(rest)+minRead)
	}
	if size == cap(buf) {
		return buf[:copy(buf, rest)]
	}
	nb := reclaim.Make(len(rest), size) // a big reply reuses a big buffer just dropped
	copy(nb, rest)
	return nb
}

// failed is a generation just taken down, with what remains to do outside the lock.
type failed struct {
	nc       net.Conn
	lclose   func() error
	quit     chan struct{}
	waiting  []callback
	barriers []barrier
	// A tunnel's end: who hears of it, and why.
	tunnelClosed func(error)
	why          error
}

// takeDown ends the current generation, moving the connection to next (stateDown or
// stateClosed). c.mu is held; the caller then calls finish without it.
func (c *conn) takeDown(next state) failed {
	f := failed{nc: c.nc, lclose: c.lclose, quit: c.quit, waiting: c.queue.drain(), barriers: c.barriers}
	c.barriers = nil
	if c.ded != nil {
		c.ded.takeDown(c, next)
		f.tunnelClosed, f.why = c.ded.endTunnel()
		if next == stateDown {
			next = stateClosed // a dedicated connection's state is gone: never again
		}
	}
	c.state, c.nc, c.quit = next, nil, nil
	c.lwrite, c.lclose = nil, nil
	c.out = c.out.reuse()
	return f
}

// finish closes the socket and fails the waiting commands: the oldest with first, the
// others with rest.
func (f failed) finish(first, rest error) {
	if f.quit != nil {
		close(f.quit)
	}
	if f.nc != nil {
		_ = f.nc.Close()
	}
	if f.lclose != nil {
		_ = f.lclose()
	}
	for i, done := range f.waiting {
		switch {
		case done == nil: // abandoned after a timeout: told already
		case i == 0:
			done(resp.Value{}, first)
		default:
			done(resp.Value{}, rest)
		}
	}
	for _, b := range f.barriers {
		b.done()
	}
	if f.tunnelClosed != nil {
		f.tunnelClosed(f.why)
	}
}

// fail takes generation gen down because of cause, unless it has ended already.
func (c *conn) fail(gen uint64, cause error) {
	c.mu.Lock()
	if c.state != stateUp || c.gen != gen {
		c.mu.Unlock()
		return
	}
	f := c.takeDown(stateDown)
	c.mu.Unlock()
	if errors.Is(cause, errLoopStopped) && len(f.waiting) == 0 {
		c.log.Info("disconnected: event loop stopped") // the proxy is shutting down: no command lost
	} else {
		c.log.Warn("disconnected", "error", cause, "failed_commands", len(f.waiting))
	}
	lost := fmt.Errorf("redis %s: %w: %v", c.b.cfg.Addr, backend.ErrConnLost, cause)
	f.finish(lost, lost)
}

// checkTimeout acts when the command at the head of the connection's queue has been
// there for timeout. It runs on the watch goroutine, every tick: the head's wait is
// measured from the first tick that saw it, so a timeout fires between timeout and
// timeout plus two ticks after the server last answered.
//
// A slow server is not a dead one (a long script, a big DEL): on a shared connection the
// commands waiting fail with ErrTimeout, their replies are dropped in order when they
// come, and the other clients' commands go on; a health check on a connection of its
// own takes the connection down only if the server does not answer it. A dedicated
// connection is taken down: the client's state on it is in doubt.
func (c *conn) checkTimeout(now time.Time, timeout time.Duration) {
	c.mu.Lock()
	if c.ded != nil && c.queue.len() > 0 {
		timeout = c.ded.headTimeout(timeout)
	}
	switch {
	case c.state != stateUp || c.queue.len() == 0 || timeout < 0:
		c.mu.Unlock()
		c.watchSince = time.Time{}
		return
	case c.watchSince.IsZero() || c.watchGen != c.gen || c.watchHead != c.popped:
		c.watchGen, c.watchHead, c.watchSince = c.gen, c.popped, now
		c.mu.Unlock()
		return
	case now.Sub(c.watchSince) < timeout:
		c.mu.Unlock()
		return
	}
	if c.ded == nil {
		c.abandon(now)
		return
	}
	f := c.takeDown(stateDown)
	c.mu.Unlock()
	c.watchSince = time.Time{}
	c.log.Warn("disconnected: command timed out", "timeout", timeout, "failed_commands", len(f.waiting))
	f.finish(c.b.errTimeout, fmt.Errorf("redis %s: %w: an earlier command timed out",
		c.b.cfg.Addr, backend.ErrConnLost))
}

// abandon fails the commands waiting on a shared connection with ErrTimeout, keeping
// their places in the queue so that their replies are dropped when they come, and
// checks that the server is alive. c.mu is held; abandon unlocks it.
func (c *conn) abandon(now time.Time) {
	cbs := c.queue.abandon(nil)
	barriers := c.barriers
	c.barriers = nil
	gen := c.gen
	check := !c.checking
	c.checking = true
	c.mu.Unlock()
	c.watchSince = now // the next timeout counts from here
	for _, cb := range cbs {
		cb(resp.Value{}, c.b.errTimeout)
	}
	for _, b := range barriers {
		b.done()
	}
	c.log.Warn("commands timed out; their replies will be dropped when they come", "failed_commands", len(cbs))
	if !check {
		return
	}
	c.b.wg.Add(1)
	go func() {
		defer c.b.wg.Done()
		err := c.b.ping()
		c.mu.Lock()
		c.checking = false
		c.mu.Unlock()
		if err != nil {
			c.fail(gen, fmt.Errorf("the server answers nothing, not even a health check on a connection of its own: %w", err))
		}
	}()
}

// close moves the connection to stateClosed for good and fails its waiting commands.
func (c *conn) close() {
	c.mu.Lock()
	f := c.takeDown(stateClosed)
	c.mu.Unlock()
	f.finish(c.b.errClosed, c.b.errClosed)
}
