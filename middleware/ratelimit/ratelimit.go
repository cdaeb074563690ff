package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Per says what shares a token bucket.
type Per int

const (
	// IP gives every client IP address a bucket, shared by its connections. It is the
	// zero value, the default.
	IP Per = iota
	// Conn gives every connection a bucket of its own.
	Conn
	// User gives every authenticated user (proxy.Conn.User) a bucket, shared by the
	// connections that authenticated as that user. Connections that have not
	// authenticated are keyed by their IP address, as with IP.
	User
	// Global gives the whole proxy one bucket.
	Global
)

var perNames = [...]string{IP: "ip", Conn: "conn", User: "user", Global: "global"}

// String returns "ip", "conn", "user" or "global".
func (p Per) String() string {
	if p >= 0 && int(p) < len(perNames) {
		return perNames[p]
	}
	return "Per(" + strconv.Itoa(int(p)) + ")"
}

// MarshalText returns the name String returns; with UnmarshalText it lets a Per be a
// flag (flag.TextVar).
func (p Per) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(perNames) {
		return nil, fmt.Errorf("ratelimit: unknown Per %d", int(p))
	}
	return []byte(perNames[p]), nil
}

// UnmarshalText sets p from "ip", "conn", "user" or "global".
func (p *Per) UnmarshalText(b []byte) error {
	for i, n := range perNames {
		if string(b) == n {
			*p = Per(i)
			return nil
		}
	}
	return fmt.Errorf("ratelimit: unknown Per %q (want ip, conn, user or global)", b)
}

// Mode says what happens to a command that finds its bucket empty.
type Mode int

const (
	// Reject answers it with an error reply at once. It is the zero value, the default.
	Reject Mode = iota
	// Delay holds it, and the later commands of its connection, until its tokens come,
	// for at most MaxDelay; beyond that it is rejected.
	Delay
)

var modeNames = [...]string{Reject: "reject", Delay: "delay"}

// String returns "reject" or "delay".
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// MarshalText returns the name String returns; with UnmarshalText it lets a Mode be a
// flag (flag.TextVar).
func (m Mode) MarshalText() ([]byte, error) {
	if m < 0 || int(m) >= len(modeNames) {
		return nil, fmt.Errorf("ratelimit: unknown Mode %d", int(m))
	}
	return []byte(modeNames[m]), nil
}

// UnmarshalText sets m from "reject" or "delay".
func (m *Mode) UnmarshalText(b []byte) error {
	for i, n := range modeNames {
		if string(b) == n {
			*m = Mode(i)
			return nil
		}
	}
	return fmt.Errorf("ratelimit: unknown Mode %q (want reject or delay)", b)
}

// Defaults of Config.
const (
	DefaultMaxDelay = time.Second
	DefaultIdleTTL  = time.Minute
	DefaultMaxKeys  = 100000
)

// Config configures a Limiter. Rate and Burst are required.
type Config struct {
	// Rate is how many tokens a bucket gains per second. It must be positive and finite.
	Rate float64
	// Burst is a bucket's size: how many commands may pass at once after a quiet spell.
	// At least 1.
	Burst int
	// Per says what shares a bucket. Default: IP.
	Per Per
	// Mode says what happens to a command that finds its bucket empty. Default: Reject.
	Mode Mode
	// MaxDelay bounds the wait of a command in Delay mode: one whose tokens would come
	// later is rejected. Default: DefaultMaxDelay. Keep it well below the server's reply
	// timeout.
	MaxDelay time.Duration
	// Cost, when set, returns how many tokens a command takes (default 1). A cost of 0
	// or less lets the command through untouched; a cost above Burst can never be met, and
	// the command is always rejected. It runs on the event loop and must not block.
	Cost func(req *proxy.Request) int
	// IdleTTL is how long an IP or User bucket may go unused before it is dropped (it
	// goes between IdleTTL and 1.5 × IdleTTL after its last use: shards are swept as
	// lookups come, at most every IdleTTL/2). Default: DefaultIdleTTL. It is raised to Burst/Rate (the time an empty bucket takes
	// to fill) when shorter, so dropping a bucket never gives a client more tokens than
	// waiting would have.
	IdleTTL time.Duration
	// MaxKeys bounds the IP and User buckets kept. When a new key's shard is full, the
	// least recently used bucket of the shard is evicted. Default: DefaultMaxKeys.
	MaxKeys int
}

// Limiter is the middleware. It is safe for concurrent use by every connection and every
// event loop of a server; see the package doc.
type Limiter struct {
	rate     rate.Limit
	burst    int
	per      Per
	mode     Mode
	maxDelay time.Duration
	cost     func(*proxy.Request) int
	refused  resp.Value // the error reply, built once

	global *rate.Limiter // Global
	state  proxy.ConnKey[*connState]
	keys   *table // IP and User

	now func() time.Time // time.Now, or a test's clock
	// delayed, when set (by tests), is called on the loop after a delayed command was
	// passed on (closed false) or dropped because its connection closed (closed true).
	delayed func(closed bool)
}

var _ proxy.Middleware = (*Limiter)(nil)

// connState is what a Limiter keeps on a connection. Loop-only.
type connState struct {
	lim  *rate.Limiter // Conn: the connection's bucket
	e    *entry        // IP, User: the bucket looked up, nil before the first command
	user string        // User: the user e was looked up for
	ip   netip.Addr    // the connection's address, parsed once
}

// New returns a Limiter for cfg, after checking it.
func New(cfg Config) (*Limiter, error) {
	switch {
	case !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0):
		return nil, fmt.Errorf("ratelimit: Rate %v is not a positive, finite number", cfg.Rate)
	case cfg.Burst < 1:
		return nil, fmt.Errorf("ratelimit: Burst %d is below 1", cfg.Burst)
	case cfg.Per < IP || cfg.Per > Global:
		return nil, fmt.Errorf("ratelimit: unknown Per %d", int(cfg.Per))
	case cfg.Mode < Reject || cfg.Mode > Delay:
		return nil, fmt.Errorf("ratelimit: unknown Mode %d", int(cfg.Mode))
	case cfg.MaxDelay < 0:
		return nil, fmt.Errorf("ratelimit: MaxDelay %v is negative", cfg.MaxDelay)
	case cfg.IdleTTL < 0:
		return nil, fmt.Errorf("ratelimit: IdleTTL %v is negative", cfg.IdleTTL)
	case cfg.MaxKeys < 0:
		return nil, fmt.Errorf("ratelimit: MaxKeys %d is negative", cfg.MaxKeys)
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.IdleTTL == 0 {
		cfg.IdleTTL = DefaultIdleTTL
	}
	// The time an empty bucket takes to fill, as a Duration when it fits in one.
	fill := time.Duration(math.MaxInt64)
	if f := float64(cfg.Burst) / cfg.Rate * float64(time.Second); f < math.MaxInt64 {
		fill = time.Duration(f)
	}
	cfg.IdleTTL = max(cfg.IdleTTL, fill)
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	msg := fmt.Sprintf("rate limit exceeded: %s/s burst %d per %s",
		strconv.FormatFloat(cfg.Rate, 'g', -1, 64), cfg.Burst, cfg.Per)
	if cfg.Mode == Delay {
		msg += ", max delay " + cfg.MaxDelay.String()
	}
	l := &Limiter{
		rate:     rate.Limit(cfg.Rate),
		burst:    cfg.Burst,
		per:      cfg.Per,
		mode:     cfg.Mode,
		maxDelay: cfg.MaxDelay,
		cost:     cfg.Cost,
		refused:  resp.Error("ERR", msg),
		state:    proxy.NewConnKey[*connState](),
		now:      time.Now,
	}
	switch cfg.Per {
	case Global:
		l.global = rate.NewLimiter(l.rate, l.burst)
	case Conn:
	case IP, User:
		l.keys = newTable(cfg.MaxKeys, cfg.IdleTTL, l.newLimiter)
	}
	return l, nil
}

func (l *Limiter) newLimiter() *rate.Limiter { return rate.NewLimiter(l.rate, l.burst) }

// Keys returns how many IP and User buckets the Limiter keeps now (0 for Conn and
// Global). Safe from any goroutine.
func (l *Limiter) Keys() int {
	if l.keys == nil {
		return 0
	}
	return int(l.keys.n.Load())
}

// ServeRESP passes req on if its bucket has the tokens, and otherwise rejects it or, in
// Delay mode, passes it on later; see the package doc. Safe for concurrent use; runs on
// the connection's event loop without blocking it.
func (l *Limiter) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	n := 1
	if l.cost != nil {
		if n = l.cost(req); n <= 0 {
			next.ServeRESP(ctx, w, req)
			return
		}
	}
	now := l.now()
	lim, e := l.bucket(req.Conn(), now)
	if lim.AllowN(now, n) {
		next.ServeRESP(ctx, w, req)
		return
	}
	if l.mode == Reject {
		w.WriteReply(l.refused)
		return
	}
	r := lim.ReserveN(now, n)
	if !r.OK() {
		w.WriteReply(l.refused) // n > Burst: never
		return
	}
	d := r.DelayFrom(now)
	if d > l.maxDelay {
		r.CancelAt(now)
		w.WriteReply(l.refused)
		return
	}
	if e != nil {
		// The bucket is in use until the reserved tokens are taken.
		e.touch(now.Add(d))
	}
	c := req.Conn()
	release := c.Hold()
	time.AfterFunc(d, func() {
		c.Post(func() { l.resume(ctx, w, req, next, release) })
	})
}

// resume passes on a command that waited for its tokens, on its connection's loop, and
// releases the connection.
func (l *Limiter) resume(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler, release func()) {
	defer release()
	closed := req.Conn().Closed()
	if l.delayed != nil {
		defer l.delayed(closed)
	}
	if closed {
		return // nobody to answer; the request's slot is gone with the connection
	}
	// Outside the server's own dispatch: proxy.Serve answers a panic as it would.
	proxy.Serve(ctx, next, w, req)
}

// bucket returns the bucket of c, and its table entry for IP and User. Loop-only for c.
func (l *Limiter) bucket(c *proxy.Conn, now time.Time) (*rate.Limiter, *entry) {
	if l.per == Global {
		return l.global, nil
	}
	st := l.state.Get(c)
	if st == nil {
		st = &connState{ip: addrOf(c.RemoteAddr())}
		if l.per == Conn {
			st.lim = l.newLimiter()
		}
		l.state.Set(c, st)
	}
	if l.per == Conn {
		return st.lim, nil
	}
	k := key{ip: st.ip}
	if l.per == User {
		if u := c.User(); u != "" {
			k = key{user: u}
		}
		if st.e != nil && st.user != k.user {
			st.e = nil
		}
	}
	if e := st.e; e != nil && !e.gone.Load() {
		e.touch(now)
		return e.lim, e
	}
	st.e = l.keys.get(k, now)
	st.user = k.user
	return st.e.lim, st.e
}

// addrOf returns the IP address of a client's remote address, IPv4-mapped addresses as
// IPv4; the zero Addr when it has none.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
