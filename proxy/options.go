package proxy

import (
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/redchain/redchain/proxy/resp"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	loops            int
	maxInflight      int
	maxPending       int
	maxClients       int
	maxOutbound      int
	maxQueryBuffer   int
	maxMemoryClients int64
	idleTimeout      time.Duration
	replyTimeout     time.Duration
	limits           resp.Limits
	logger           hclog.Logger
}

// Defaults of the options.
const (
	DefaultMaxInflight    = 1024     // commands of one connection in flight
	DefaultMaxClients     = 10000    // as Redis's maxclients
	DefaultMaxOutbound    = 64 << 20 // bytes of replies waiting for a slow client
	DefaultMaxQueryBuffer = 1 << 30  // as Redis's client-query-buffer-limit
	DefaultReplyTimeout   = time.Minute
)

func defaultOptions() options {
	return options{
		loops:          DefaultEventLoops(),
		maxInflight:    DefaultMaxInflight,
		maxClients:     DefaultMaxClients,
		maxOutbound:    DefaultMaxOutbound,
		maxQueryBuffer: DefaultMaxQueryBuffer,
		replyTimeout:   DefaultReplyTimeout,
		logger:         hclog.NewNullLogger(),
	}
}

// DefaultEventLoops returns the number of event loops a server has unless told
// otherwise: one per CPU the process may use (GOMAXPROCS, which follows a container's
// CPU quota) but one, and at least one. The CPU left over is for what each request also
// needs besides its loop: the Go runtime (the garbage collector's workers, timers) and
// the kernel's network processing of the proxy's sockets. Measured on two cores shared
// with Redis and the clients (bench/README.md), one loop instead of two served 15% more
// requests at pipeline depth 1, with half the p99 latency, and as many at depth 16.
func DefaultEventLoops() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// WithEventLoops sets the number of event loops (default DefaultEventLoops). Each
// connection lives on one loop for its whole life.
func WithEventLoops(n int) Option { return func(o *options) { o.loops = n } }

// WithMaxInflight bounds the commands of one connection that are parsed but whose replies
// have not been written yet (default 1024; rounded up to a power of two). When a
// connection reaches it, the server stops reading from it until replies go out: a client
// that pipelines deeper is slowed down, never refused.
func WithMaxInflight(n int) Option { return func(o *options) { o.maxInflight = n } }

// WithMaxPending bounds the commands of one connection that wait behind a hold
// (Conn.Hold) without having entered the chain (default: MaxInflight). Reaching it stops
// reading from the connection, as with MaxInflight.
func WithMaxPending(n int) Option { return func(o *options) { o.maxPending = n } }

// WithMaxClients bounds the open client connections (default 10000, as Redis). A client
// beyond it gets "-ERR max number of clients reached" and is closed.
func WithMaxClients(n int) Option { return func(o *options) { o.maxClients = n } }

// WithMaxOutbound bounds the reply bytes waiting for a client that does not read them
// (default 64 MiB): those buffered for its socket, those completed and not yet written,
// and those owed by its commands in flight, each counted at the size of its recent
// replies (a new connection's first commands go 64 at a time until their replies show
// it). Beyond it, the server stops reading that client's commands until it reads. 0
// means no bound.
func WithMaxOutbound(n int) Option { return func(o *options) { o.maxOutbound = n } }

// WithMaxQueryBuffer bounds the bytes received from one client and not yet decoded
// (default 1 GiB, Redis's client-query-buffer-limit): an incomplete command, or the
// commands waiting while the connection is at MaxInflight. An incomplete command beyond
// it gets a protocol error; input that piles up behind a full ring closes the client at
// once, as Redis does. It must exceed the longest command clients send.
func WithMaxQueryBuffer(n int) Option { return func(o *options) { o.maxQueryBuffer = n } }

// WithMaxMemoryClients sets a budget of memory for all clients together, as Redis's
// maxmemory-clients (default 0: none). It counts what the proxy holds for each client:
// received bytes not yet decoded, its commands in flight, and its replies and pushes not
// yet read (held by the proxy or buffered for the socket). When the sum exceeds n
// bytes, the client that holds the most is closed, and the next, until it does not; each
// eviction is logged (WARN) and counted (Stats.ClientsEvicted). Clients under 1 MiB are
// never evicted. The per-connection limits (MaxQueryBuffer, MaxOutbound) still apply.
//
// The budget bounds what the proxy holds, not the process's resident memory: the Go
// runtime collects what evicted clients held at its next collection. To keep that
// close, give the runtime a soft memory limit above the budget (GOMEMLIMIT, or
// debug.SetMemoryLimit; the cli package's -maxmemory-clients flag sets both).
func WithMaxMemoryClients(n int64) Option { return func(o *options) { o.maxMemoryClients = n } }

// WithIdleTimeout closes connections that have sent nothing and wait for nothing for d
// (default 0: never, as Redis's timeout 0).
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// WithReplyTimeout answers "-ERR redchain: reply timeout" for a command whose reply has
// not been written d after it entered the chain (default one minute; 0 disables it). It
// is a safety net against a handler that forgets to reply, not a command timeout:
// backends have their own, shorter ones. A reply that comes later is dropped. A command
// that blocks on purpose may wait longer (Request.AllowReplyAfter).
func WithReplyTimeout(d time.Duration) Option { return func(o *options) { o.replyTimeout = d } }

// WithLimits sets the protocol limits for client commands (bulk length, number of
// arguments, inline length); zero fields keep Redis's defaults.
func WithLimits(l resp.Limits) Option { return func(o *options) { o.limits = l } }

// WithLogger sets the logger of the server and of gnet underneath it (default: silent).
func WithLogger(l hclog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}
