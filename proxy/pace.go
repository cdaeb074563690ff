package proxy

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/redchain/redchain/internal/reclaim"
)

// A wire copies what its socket does not take at once into an outbound buffer of its
// own (gnet's), so that a 100 MB reply handed to it whole would be held twice: once by
// the proxy and once more there. A pacer holds such bytes, uncopied, and writes them as
// the socket takes them: straight to the socket when the wire is one (gnet's) and its
// buffer is empty, so that nothing is copied; else a window at a time into the wire's
// buffer, as the socket drains it. gnet tells nobody when a socket can take more, so
// a pacer with bytes waiting looks again after paceEvery: a socket buffer's worth (or
// a window) per look, far more than one client reads. While nothing goes out (a client
// that does not read), the looks space out, up to paceIdle apart.
const (
	paceWindow = 4 << 20
	paceEvery  = time.Millisecond
	paceIdle   = 100 * time.Millisecond
	paceCopy   = 16 << 10 // the least a copy made to wait is given room for
)

// pacer writes to a wire in order, keeping at most about paceWindow in the wire's
// outbound buffer; the rest waits in the pacer's queue. Loop-only.
type pacer struct {
	w      wire
	fd     int                  // w's socket, written to directly when direct
	direct bool                 // w is a socket of the loop's own (see setWire)
	post   func(fn func()) bool // runs fn on the loop, later
	resume func()               // called on the loop once the wire may take more
	queue  []paced              // bytes not yet given to the wire, in order
	queued int                  // their total
	timer  bool                 // a look is scheduled
	every  time.Duration        // how long until the next look
	seen   int                  // what the wire buffered when the look was scheduled
}

// setWire makes w the pacer's wire: gnet's connections, which have a socket of their
// own (Fd, -1 for none) and write to it on the loop, are written to directly.
func (p *pacer) setWire(w wire) {
	p.w, p.direct = w, false
	if s, ok := w.(interface{ Fd() int }); ok {
		p.fd = s.Fd()
		p.direct = p.fd >= 0
	}
}

// paced is one buffer in a pacer's queue.
type paced struct {
	b    []byte // what is left to write
	size int    // the buffer's size, given back once it is written
	copy bool   // the pacer's own copy: more copies may be appended to it
}

// write sends b after what was written before. With owned false, b may be reused once
// write returns, and is copied if it has to wait; with owned true it is handed over and
// waits uncopied.
func (p *pacer) write(b []byte, owned bool) {
	if len(p.queue) == 0 && len(b) <= p.room() {
		_, _ = p.w.Write(b) // what the socket does not take fits in the window
		return
	}
	p.queued += len(b)
	switch last := len(p.queue) - 1; {
	case owned:
		p.queue = append(p.queue, paced{b: b, size: cap(b)})
	case last >= 0 && p.queue[last].copy && len(b) <= cap(p.queue[last].b)-len(p.queue[last].b):
		p.queue[last].b = append(p.queue[last].b, b...)
	default:
		b = append(make([]byte, 0, max(len(b), paceCopy)), b...)
		p.queue = append(p.queue, paced{b: b, size: cap(b), copy: true})
	}
	if p.pump(); p.busy() {
		p.watch()
	}
}

// room is what the wire may buffer now without going past the window.
func (p *pacer) room() int { return paceWindow - p.w.OutboundBuffered() }

// pump writes what the wire takes now, in order, and returns how much that was.
func (p *pacer) pump() (wrote int) {
	for len(p.queue) > 0 {
		q := &p.queue[0]
		n, err := p.put(q.b)
		if err != nil {
			p.reset() // the wire closed (and its connection is being released)
			return wrote
		}
		wrote += n
		p.queued -= n
		if q.b = q.b[n:]; len(q.b) > 0 {
			break // the socket, or the window, is full
		}
		size := q.size
		*q = paced{}
		p.queue = p.queue[1:]
		reclaim.Dropped(size)
	}
	if len(p.queue) == 0 {
		p.queue = nil
	}
	return wrote
}

// put writes as much of b as the wire takes without buffering more than the window,
// and returns how much that was.
func (p *pacer) put(b []byte) (int, error) {
	if !p.direct {
		n := min(p.room(), len(b))
		if n <= 0 {
			return 0, nil
		}
		_, err := p.w.Write(b[:n])
		return n, err
	}
	if p.w.OutboundBuffered() > 0 {
		return 0, nil // after what the wire buffered: wait until the socket took it
	}
	for {
		n, err := unix.Write(p.fd, b)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		}
		// The socket failed: let the wire find out on a write of its own, so that it
		// closes the connection with the error, as it does when its writes fail.
		n = min(len(b), paceCopy)
		_, err = p.w.Write(b[:n])
		return n, err
	}
}

// watch schedules a look, unless one is scheduled: pump does while bytes wait, and an
// owner whose work waits for the wire to drain (input held back by MaxOutbound) does.
func (p *pacer) watch() {
	if p.timer {
		return
	}
	p.timer = true
	p.seen = p.w.OutboundBuffered()
	if p.every == 0 {
		p.every = paceEvery
	}
	time.AfterFunc(p.every, func() { p.post(p.look) })
}

// look is the scheduled look: pump, then let the owner go on with what waited.
func (p *pacer) look() {
	p.timer = false
	drained := p.w.OutboundBuffered() < p.seen
	if p.pump() > 0 || drained {
		p.every = paceEvery
	} else {
		p.every = min(2*p.every, paceIdle)
	}
	if p.busy() {
		p.watch()
	}
	if p.resume != nil {
		p.resume()
	}
}

// busy reports whether bytes wait: whatever is written next must queue behind them.
func (p *pacer) busy() bool { return len(p.queue) > 0 }

// reset drops what waits: the wire has closed.
func (p *pacer) reset() {
	n := 0
	for _, q := range p.queue {
		n += q.size
	}
	p.queue, p.queued = nil, 0
	reclaim.Dropped(n)
}
