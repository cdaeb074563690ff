package router

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// OwnConnLimits caps the server connections that clients hold of their own: the
// dedicated connection of a transaction, a blocking command, a subscription, SELECT,
// CLIENT TRACKING..., and the stream of MONITOR or SYNC. Each is a connection to the
// server that no other client shares, so that without a cap a few clients (60 BLPOP 0)
// can take the server's maxclients. The caps count per client IP address, per user
// (proxy.Conn.User: "" for the clients of no user, counted together) and in total; 0 is
// no cap. A command that needs such a connection when one of its client's caps is
// reached is refused, sent nowhere, with
//
//	-ERR redchain: max number of server connections of their own reached (2 per client address)
//
// ("per user", "in total"); a client that holds one already keeps it, and its commands
// go on. A client holds its connection until its state there has ended (EXEC, the last
// UNSUBSCRIBE, the blocking command's reply) and it sends a command that needs none, or
// until it goes. The connections of the control commands (SCRIPT KILL, CLIENT UNBLOCK), brief,
// are not counted. Forward.OwnConnStats reports the counts.
type OwnConnLimits struct {
	PerAddress int
	PerUser    int
	Total      int
}

// WithOwnConnLimits caps the server connections of their own that clients hold (see
// OwnConnLimits). It panics if a cap is negative.
func WithOwnConnLimits(l OwnConnLimits) Option {
	if l.PerAddress < 0 || l.PerUser < 0 || l.Total < 0 {
		panic(fmt.Sprintf("router: OwnConnLimits %+v: want 0 (no cap) or more", l))
	}
	return func(f *Forward) {
		if l != (OwnConnLimits{}) {
			f.own = &ownConns{lim: l, byAddr: map[netip.Addr]int{}, byUser: map[string]int{}}
		}
	}
}

// OwnConnStats are the counts of server connections of their own (OwnConnLimits).
type OwnConnStats struct {
	InUse int // held by clients now
	// Commands refused because a cap was reached, by cap.
	RefusedPerAddress, RefusedPerUser, RefusedTotal uint64
}

// OwnConnStats returns the counts of server connections of their own; all zero without
// WithOwnConnLimits. Safe from any goroutine.
func (f *Forward) OwnConnStats() OwnConnStats {
	o := f.own
	if o == nil {
		return OwnConnStats{}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return OwnConnStats{InUse: o.total, RefusedPerAddress: o.refused[0].Load(),
		RefusedPerUser: o.refused[1].Load(), RefusedTotal: o.refused[2].Load()}
}

// ownConns counts the server connections of their own that clients hold.
type ownConns struct {
	lim     OwnConnLimits
	refused [3]atomic.Uint64 // per address, per user, in total

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
	byUser map[string]int
}

// ownKey is what one held connection was counted under.
type ownKey struct {
	addr netip.Addr
	user string
}

// acquire counts one more connection for k, or returns the refusal of the cap that is
// reached.
func (o *ownConns) acquire(k ownKey) resp.Value {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, c := range []struct{ n, max int }{{o.byAddr[k.addr], o.lim.PerAddress}, {o.byUser[k.user], o.lim.PerUser}, {o.total, o.lim.Total}} {
		if c.max > 0 && c.n >= c.max {
			o.refused[i].Add(1)
			return resp.Errorf("redchain: max number of server connections of their own reached (%d %s)", c.max, ownCapNames[i])
		}
	}
	o.total++
	o.byAddr[k.addr]++
	o.byUser[k.user]++
	return resp.Value{}
}

var ownCapNames = [...]string{"per client address", "per user", "in total"}

// release uncounts a connection counted under k.
func (o *ownConns) release(k ownKey) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.total--
	if o.byAddr[k.addr]--; o.byAddr[k.addr] == 0 {
		delete(o.byAddr, k.addr)
	}
	if o.byUser[k.user]--; o.byUser[k.user] == 0 {
		delete(o.byUser, k.user)
	}
}

// takeOwn counts the server connection of its own the session is about to hold, unless
// it holds one already, and returns the refusal when a cap is reached. On the loop.
func (s *session) takeOwn() resp.Value {
	if s.f.own == nil || s.owned != nil {
		return resp.Value{}
	}
	k := ownKey{addr: ipOf(s.c), user: s.c.User()}
	if v := s.f.own.acquire(k); v.Type != 0 {
		return v
	}
	s.owned = &k
	return resp.Value{}
}

// dropOwn uncounts the session's server connection of its own, once it holds neither a
// dedicated connection nor a stream. On the loop.
func (s *session) dropOwn() {
	if s.owned != nil && s.dc == nil && s.tunnel == nil {
		s.f.own.release(*s.owned)
		s.owned = nil
	}
}

// ipOf returns the IP address of c's client (the zero Addr when it has none, as over a
// pipe).
func ipOf(c *proxy.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
