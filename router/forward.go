package router

import (
	"context"
	"fmt"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router/internal/fanout"
)

// Forward is the terminal handler that sends every command to one backend.
type Forward struct {
	backends
	users   backend.Users  // nil when b cannot log in as the server's users
	clients clients        // the sessions, by client ID
	fan     *fanout.Fanout // nil: no fan-out (not asked for, or b is not sharded)
	busy    *busyScripts   // with fan: a script that runs long makes every server busy
	own     *ownConns      // nil: no caps on the server connections of clients' own
}

// backends is where commands go: the Forward's backend, or, for a session that logged
// in as one of the server's users, that user's (backend.Users).
type backends struct {
	b       backend.Backend
	ded     backend.Dedicator // nil when b cannot lend connections
	barrier backend.Barrierer // nil when b cannot tell
}

// backendsOf returns b with what it can do.
func backendsOf(b backend.Backend) backends {
	bs := backends{b: b}
	bs.ded, _ = b.(backend.Dedicator)
	bs.barrier, _ = b.(backend.Barrierer)
	return bs
}

// New returns a Forward that sends commands to b, configured by opts. When b is a
// backend.Dedicator, clients may use transactions, blocking commands, pub/sub and
// SELECT: see the package doc.
func New(b backend.Backend, opts ...Option) *Forward {
	f := &Forward{backends: backendsOf(b)}
	f.users, _ = b.(backend.Users)
	for _, o := range opts {
		o(f)
	}
	return f
}

// An Option configures a Forward (New).
type Option func(*Forward)

// FanoutConfig configures the fan-out (WithFanout). The zero value splits without a
// cap.
type FanoutConfig struct {
	// MaxShards is the most shards one command may be sent to at once; a command that
	// would touch more is refused with "-ERR redchain: MGET spans 5 shards, more than
	// max-shards 3". 0 means no cap. SCAN, which asks one shard per call, is never
	// refused; RANDOMKEY tries at most MaxShards shards.
	MaxShards int
}

// WithFanout makes a sharded backend (backend.Sharded: backend/cluster, backend/shard)
// answer like one Redis: multi-key commands (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH)
// whose keys live in several groups are split by group and their replies merged;
// whole-keyspace commands (KEYS, SCAN, DBSIZE, FLUSHALL, INFO, PUBSUB CHANNELS...) go to
// every shard and are merged; other commands whose keys span groups get -CROSSSLOT.
// Commands of a client that holds state on a dedicated connection (a transaction, a
// subscription...) are left whole. See FANOUT.md for each command. In front of a
// backend that is not sharded it does nothing. It panics if cfg.MaxShards is negative.
func WithFanout(cfg FanoutConfig) Option {
	if cfg.MaxShards < 0 {
		panic(fmt.Sprintf("router: FanoutConfig.MaxShards %d: want 0 (no cap) or more", cfg.MaxShards))
	}
	return func(f *Forward) {
		if s, ok := f.b.(backend.Sharded); ok {
			f.fan = fanout.New(s, cfg.MaxShards)
			f.busy = newBusyScripts(s)
		}
	}
}

// ObserveConn makes each client connection a backend session, and tells the backend
// which event loop the connection's commands come from (backend.WithLoop), so that a
// backend that can serve its connections on that loop does.
func (f *Forward) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	f.open(c)
	ctx = backend.WithSession(ctx, c.ID())
	ctx = backend.WithRedirects(ctx, f.redirectTarget)
	if s := sessions.Get(c); s != nil {
		s.base = ctx
	}
	if lp := c.Loop(); lp != nil {
		ctx = backend.WithLoop(ctx, lp)
	}
	return ctx
}

// ServeRESP routes the command by its class (see the package doc): over the backend's
// shared connections, over the client's dedicated connection, answered here, or
// refused.
func (f *Forward) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	if c := req.Conn(); c != nil {
		if s := sessions.Get(c); s != nil && s.f == f {
			s.serve(ctx, w, req)
			return
		}
	}
	// A request of a connection the router did not see open (proxy.NewRequest's, in a
	// unit test): no session, so no state.
	args := req.Args()
	c, refusal := command.Check(args)
	if c == nil {
		w.WriteReply(refusal)
		return
	}
	if f.fan != nil && f.fan.Serve(ctx, w, req, c, noSession{}) {
		return
	}
	switch c.ClassOf(args) {
	case command.Shared, command.EveryShard:
		f.b.Send(ctx, req.Command(), proxy.Callback(w))
	case command.Local:
		s := session{f: f, proto: 2}
		if c.Effect == command.EffectProtocol {
			h, refusal := s.parseHello(args)
			if refusal.Type == 0 {
				refusal = helloReply(h.proto, 0)
			}
			w.WriteReply(refusal)
			return
		}
		w.WriteReply(s.local(c, args))
	case command.Refused:
		w.WriteReply(refused(c))
	default:
		w.WriteReply(resp.Error("ERR", "redchain: "+displayName(c)+" needs a client connection"))
	}
}

// noSession is the fan-out's lane of a request without a session: the shared
// connections, always.
type noSession struct{}

func (noSession) Shared(ctx context.Context) (context.Context, bool) { return ctx, true }

var (
	_ proxy.Handler      = (*Forward)(nil)
	_ proxy.ConnObserver = (*Forward)(nil)
	_ fanout.Lane        = (*session)(nil)
	_ fanout.Lane        = noSession{}
)
