package proxy

import "time"

// A wire copies what its socket does not take at once into an outbound buffer of its
// own (gnet's), so that a 100 MB reply handed to it whole would be held twice: once by
// the proxy and once more there. A pacer holds such bytes, uncopied, and hands them to
// the wire a window at a time, as the socket drains what the wire buffered. gnet tells
// nobody when that happens, so a pacer with bytes waiting looks again after
// paceEvery; a window per look bounds its throughput to paceWindow/paceEvery (4 GB/s),
// far above what one client reads. While the wire drains nothing (a client that does
// not read), the looks space out, up to paceIdle apart.
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
	post   func(fn func()) bool // runs fn on the loop, later
	resume func()               // called on the loop once the wire may take more
	queue  []paced              // bytes not yet given to the wire, in order
	queued int                  // their total
	timer  bool                 // a look is scheduled
	every  time.Duration        // how long until the next look
	seen   int                  // what the wire buffered when the look was scheduled
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
	p.pump()
}

// room is what the wire may buffer now without going past the window.
func (p *pacer) room() int { return paceWindow - p.w.OutboundBuffered() }

// pump gives the wire what fits in the window, and schedules another look while bytes
// wait.
func (p *pacer) pump() {
	for len(p.queue) > 0 {
		room := p.room()
		if room <= 0 {
			break
		}
		q := &p.queue[0]
		n := min(room, len(q.b))
		if _, err := p.w.Write(q.b[:n]); err != nil {
			p.reset() // the wire closed (and its connection is being released)
			return
		}
		p.queued -= n
		if q.b = q.b[n:]; len(q.b) > 0 {
			continue
		}
		size := q.size
		*q = paced{}
		p.queue = p.queue[1:]
		giveBack(size)
	}
	if len(p.queue) == 0 {
		p.queue = nil
		return
	}
	p.watch()
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
	if p.w.OutboundBuffered() < p.seen {
		p.every = paceEvery
	} else {
		p.every = min(2*p.every, paceIdle)
	}
	p.pump()
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
	giveBack(n)
}
