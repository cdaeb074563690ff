package proxy

import "sync"

// The client memory budget (WithMaxMemoryClients) counts, for every client together,
// what the proxy holds for them: received bytes not yet decoded, the commands in
// flight, and their replies not yet read (completed, paced, or in the wire's buffer),
// pushes included. It is Redis's maxmemory-clients: over it, the client using the most
// is disconnected, one at a time, until the sum is under it again.
//
// Each connection reports its use on its loop, after each turn (account), in steps of
// budgetStep so that small clients, whose use changes with every command, do not touch
// the shared sum. A connection that uses budgetBig or more is also listed in
// budget.big: the candidates to evict.

const (
	budgetStep = 64 << 10
	budgetBig  = 1 << 20
)

// budget is a server's client memory budget.
type budget struct {
	limit int64

	mu       sync.Mutex
	used     int64              // the sum of every connection's reported use
	evicting int64              // of it, the use of connections evicted and not yet closed
	big      map[*Conn]struct{} // connections reporting budgetBig or more
	evicted  uint64             // connections evicted so far
}

// memory is what c holds now, for its client. Loop-only.
func (c *Conn) memory() int64 {
	c.mu.Lock()
	oob := c.oobBytes
	c.mu.Unlock()
	return int64(cap(c.in)+c.cmdBytes+c.pace.queued+c.gc.OutboundBuffered()+oob) + c.unwritten.Load()
}

// account reports c's use to the budget, when there is one and it changed by a step.
// Loop-only.
func (c *Conn) account() {
	b := c.srv.budget
	if b == nil || c.closed {
		return
	}
	use := c.memory() &^ (budgetStep - 1)
	if use == c.reported {
		return
	}
	b.mu.Lock()
	b.used += use - c.reported
	c.reported = use
	switch {
	case use >= budgetBig:
		b.big[c] = struct{}{}
	default:
		delete(b.big, c)
	}
	victim, vuse := b.overLocked()
	b.mu.Unlock()
	if victim != nil {
		c.srv.evict(victim, vuse)
	}
}

// unaccount takes a closed connection out of the budget. On c's loop.
func (c *Conn) unaccount() {
	b := c.srv.budget
	if b == nil {
		return
	}
	b.mu.Lock()
	b.used -= c.reported
	if c.evicted {
		b.evicting -= c.reported
	}
	c.reported = 0
	delete(b.big, c)
	b.mu.Unlock()
}

// overLocked returns the connection to evict, and its use, if the budget is exceeded by
// connections not being evicted already: the biggest. b.mu is held.
func (b *budget) overLocked() (*Conn, int64) {
	if b.used-b.evicting <= b.limit {
		return nil, 0
	}
	var victim *Conn
	for c := range b.big {
		if !c.evicted && (victim == nil || c.reported > victim.reported) {
			victim = c
		}
	}
	if victim == nil {
		return nil, 0
	}
	victim.evicted = true
	b.evicting += victim.reported
	b.evicted++
	return victim, victim.reported
}

// evict closes c, which the budget chose, using use bytes. Any goroutine.
func (s *Server) evict(c *Conn, use int64) {
	s.opts.logger.Warn("client closed: client memory budget exceeded (maxmemory-clients)",
		"conn", c.id, "remote", c.remote, "client_memory", use, "budget", s.budget.limit)
	_ = c.gc.Close()
}

// stats returns the budget's sum and its count of evictions; zeros without a budget.
func (b *budget) stats() (used int64, evicted uint64) {
	if b == nil {
		return 0, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.evicted
}
