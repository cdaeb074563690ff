package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

// Config configures a Fanout. The zero value splits without a cap.
type Config struct {
	// MaxShards is the most shards one command may be sent to at once; a command that
	// would touch more is refused with "-ERR redchain: MGET spans 5 shards, more than
	// max-shards 3". 0 means no cap. SCAN, which asks one shard per call, is never
	// refused; RANDOMKEY tries at most MaxShards shards.
	MaxShards int
}

// Fanout is the middleware. It is safe for concurrent use by every connection of a
// server; see the package doc.
type Fanout struct {
	b       backend.Backend
	sharded backend.Sharded // nil: one shard, nothing to do
	locate  func([]byte) (group, shard int)
	max     int
	plans   sync.Pool // *command.Plan
}

var _ proxy.Middleware = (*Fanout)(nil)

// New returns the middleware for b, the backend the router after it sends to. When b
// implements backend.Sharded, commands are split and merged by its shards; otherwise b
// is one shard and every command passes through untouched. New refuses a nil b and a
// negative MaxShards.
func New(b backend.Backend, cfg Config) (*Fanout, error) {
	if b == nil {
		return nil, errors.New("fanout: nil backend")
	}
	if cfg.MaxShards < 0 {
		return nil, fmt.Errorf("fanout: Config.MaxShards %d: want 0 (no cap) or more", cfg.MaxShards)
	}
	f := &Fanout{b: b, max: cfg.MaxShards}
	if s, ok := b.(backend.Sharded); ok {
		f.sharded, f.locate = s, s.Locate
	}
	f.plans.New = func() any { return new(command.Plan) }
	return f, nil
}

// Replies of the middleware's own.
var (
	crossSlot  = resp.Error("CROSSSLOT", "Keys in request don't hash to the same slot")
	unexpected = resp.Error("ERR", "redchain: unexpected reply from a shard")
	badCursor  = resp.Error("ERR", "invalid cursor")
)

// A SCAN cursor holds the shard in its low scanShardBits bits, so it can name at most
// maxScanShards shards.
const (
	scanShardBits = 10
	maxScanShards = 1 << scanShardBits
)

// ServeRESP splits, spreads or refuses the command as the package doc says, or passes it
// on untouched; that last path allocates nothing.
func (f *Fanout) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if f.sharded == nil {
		next.ServeRESP(ctx, w, req)
		return
	}
	if c := req.Conn(); c != nil && router.Stateful(c) {
		next.ServeRESP(ctx, w, req)
		return
	}
	args := req.Args()
	c, ok := command.LookupArgs(args)
	switch {
	case !ok:
	case c.Request == command.MultiShard:
		f.split(ctx, w, req, next)
		return
	case c.ClassOf(args) == command.EveryShard:
		if special, ok := specials[c.Name]; ok {
			special(f, ctx, w, req, next)
			return
		}
		if c.Response != command.ResponseSpecial {
			f.everyShard(ctx, w, req, next, func(parts []resp.Value) resp.Value {
				return command.MergeReplies(c.Response, parts)
			}, false)
			return
		}
		// A merge of its own that is not written yet (INFO, MEMORY STATS...): one shard
		// answers, as the router sends it.
	}
	if !f.oneGroup(args) {
		w.WriteReply(crossSlot)
		return
	}
	next.ServeRESP(ctx, w, req)
}

// specials are the whole-keyspace commands with a policy of their own.
var specials = map[string]func(f *Fanout, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler){
	"scan":      (*Fanout).scan,
	"randomkey": (*Fanout).randomKey,
	"info": func(f *Fanout, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		// Merged even from one shard: a one-node cluster presents itself standalone too.
		f.everyShard(ctx, w, req, next, command.MergeInfo, true)
	},
	"pubsub|channels":      merged(command.MergeSet),
	"pubsub|shardchannels": merged(command.MergeSet),
	"pubsub|numsub":        merged(command.MergeCounts),
	"pubsub|shardnumsub":   merged(command.MergeCounts),
	"pubsub|numpat": merged(func(parts []resp.Value) resp.Value {
		return command.MergeReplies(command.AggSum, parts)
	}),
}

// merged is the special of a command sent to every shard and merged by merge.
func merged(merge func([]resp.Value) resp.Value) func(f *Fanout, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	return func(f *Fanout, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
		f.everyShard(ctx, w, req, next, merge, false)
	}
}

// oneGroup reports whether the keys of args, as the command table finds them, all live
// in one group (true for commands with fewer than two keys, and for unknown commands,
// which the backend refuses or sends as they are). It does not allocate for commands of
// up to 16 keys.
func (f *Fanout) oneGroup(args [][]byte) bool {
	if len(args) < 3 { // the name and at most one key
		return true
	}
	c, ok := command.Lookup(args[0])
	if !ok {
		return true
	}
	var buf [16]int
	keys := c.Keys(args, buf[:0])
	if len(keys) < 2 {
		return true
	}
	g0, _ := f.locate(args[keys[0]])
	for _, k := range keys[1:] {
		if g, _ := f.locate(args[k]); g != g0 {
			return false
		}
	}
	return true
}

// tooWide is the reply to a command refused by MaxShards.
func (f *Fanout) tooWide(name []byte, shards int) resp.Value {
	return resp.Error("ERR", fmt.Sprintf("redchain: %s spans %d shards, more than max-shards %d",
		bytes.ToUpper(name), shards, f.max))
}

// split splits a multi-key command (MGET, MSET, DEL...) by group, or passes it on when
// its keys share one.
func (f *Fanout) split(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	// Most multi-key commands of a well-designed application use hash tags: find out
	// before taking a plan, stopping at the first key of another group.
	args := req.Args()
	_, step, ok := command.Splittable(args)
	one := true
	if ok && len(args) > 1 {
		g0, _ := f.locate(args[1])
		for i := 1 + step; i < len(args); i += step {
			if g, _ := f.locate(args[i]); g != g0 {
				one = false
				break
			}
		}
	}
	if one {
		next.ServeRESP(ctx, w, req)
		return
	}
	sctx, ok := router.SharedLane(ctx, req.Conn())
	if !ok {
		next.ServeRESP(ctx, w, req)
		return
	}
	p := f.plans.Get().(*command.Plan)
	if !command.Split(req.Command(), f.locate, p) || len(p.Parts) == 1 {
		f.plans.Put(p)
		next.ServeRESP(ctx, w, req)
		return
	}
	if f.max > 0 && p.Shards > f.max {
		shards := p.Shards
		f.plans.Put(p)
		w.WriteReply(f.tooWide(req.Name(), shards))
		return
	}
	var merge func([]resp.Value) resp.Value
	if p.Response == command.ResponseDefault {
		merge = keysMerge(p)
	} else {
		r := p.Response
		merge = func(parts []resp.Value) resp.Value { return command.MergeReplies(r, parts) }
	}
	ws := proxy.Gather(w, len(p.Parts), merge)
	for i := range p.Parts {
		f.b.Send(sctx, p.Parts[i].Cmd, proxy.Callback(ws[i]))
	}
	f.plans.Put(p)
}

// keysMerge returns the merge of an MGET split by p: each part's values go back to their
// keys' positions. It keeps what it needs of p, which is reused.
func keysMerge(p *command.Plan) func([]resp.Value) resp.Value {
	// counts[i] is part i's number of keys; pos lists every part's positions in turn.
	buf := make([]int, len(p.Parts)+p.Keys)
	counts, pos := buf[:len(p.Parts)], buf[len(p.Parts):len(p.Parts):len(buf)]
	for i := range p.Parts {
		counts[i] = len(p.Parts[i].Pos)
		pos = append(pos, p.Parts[i].Pos...)
	}
	nkeys := p.Keys
	return func(parts []resp.Value) resp.Value {
		out := make([]resp.Value, nkeys)
		k := 0
		for i, v := range parts {
			d, bad := decode(v)
			if bad.Type != 0 {
				return bad
			}
			if d.Type != resp.TypeArray || len(d.Elems) != counts[i] {
				return unexpected
			}
			for _, e := range d.Elems {
				out[pos[k]] = e
				k++
			}
		}
		return resp.Array(out...)
	}
}

// decode decodes a part's reply. A reply that is an error, or that cannot be decoded,
// comes back as bad, which is then the command's reply; else bad is the zero Value.
func decode(v resp.Value) (d, bad resp.Value) {
	d, err := v.Decode()
	switch {
	case err != nil:
		return d, unexpected
	case d.IsError():
		return d, d
	}
	return d, resp.Value{}
}

// everyShard sends the command to every shard and merges their replies, unless that is
// more shards than MaxShards allows. The reply of a single shard is merged only when
// mergeOne is set.
func (f *Fanout) everyShard(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler, merge func([]resp.Value) resp.Value, mergeOne bool) {
	ctx, ok := router.SharedLane(ctx, req.Conn())
	if !ok {
		next.ServeRESP(ctx, w, req)
		return
	}
	n := f.sharded.Shards()
	if f.max > 0 && n > f.max {
		w.WriteReply(f.tooWide(req.Name(), n))
		return
	}
	cmd := req.Command()
	if n == 1 && !mergeOne {
		f.sharded.SendShard(ctx, 0, cmd, proxy.Callback(w))
		return
	}
	ws := proxy.Gather(w, n, merge)
	for i, pw := range ws {
		f.sharded.SendShard(ctx, i, cmd, proxy.Callback(pw))
	}
}

// scan runs SCAN on one shard at a time. The client's cursor holds the shard in its low
// bits and that shard's own cursor above them; when a shard's scan ends, the cursor
// moves to the next shard, and 0 comes back after the last one.
func (f *Fanout) scan(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	args := req.Args()
	if len(args) < 2 {
		next.ServeRESP(ctx, w, req) // the shard gives Redis's arity error
		return
	}
	n := f.sharded.Shards()
	if n > maxScanShards {
		w.WriteReply(resp.Error("ERR", fmt.Sprintf("redchain: SCAN over %d shards, more than %d", n, maxScanShards)))
		return
	}
	cur, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		w.WriteReply(badCursor)
		return
	}
	ctx, ok := router.SharedLane(ctx, req.Conn())
	if !ok {
		next.ServeRESP(ctx, w, req)
		return
	}
	shard := int(cur & (maxScanShards - 1))
	if shard >= n {
		w.WriteReply(badCursor)
		return
	}
	cmd := resp.Command{Args: make([][]byte, len(args))}
	copy(cmd.Args, args)
	cmd.Args[1] = strconv.AppendUint(nil, cur>>scanShardBits, 10)
	f.sharded.SendShard(ctx, shard, cmd, func(v resp.Value, err error) {
		if err != nil {
			w.WriteReply(proxy.ErrorReply(err))
			return
		}
		w.WriteReply(scanReply(v, shard, n))
	})
}

// scanReply turns shard's SCAN reply v into the client's, its cursor encoding the shard.
func scanReply(v resp.Value, shard, n int) resp.Value {
	d, bad := decode(v)
	if bad.Type != 0 {
		return bad
	}
	if d.Type != resp.TypeArray || len(d.Elems) != 2 {
		return unexpected
	}
	sc, err := strconv.ParseUint(string(d.Elems[0].Str), 10, 64)
	if err != nil {
		return unexpected
	}
	var cur uint64
	switch {
	case sc == 0 && shard+1 == n:
		cur = 0 // the last shard is done: so is the scan
	case sc == 0:
		cur = uint64(shard + 1) // the next shard, from its start
	case sc >= 1<<(64-scanShardBits):
		return resp.Error("ERR", "redchain: a shard's SCAN cursor is too big to carry its shard number")
	default:
		cur = sc<<scanShardBits | uint64(shard)
	}
	return resp.Array(resp.Bulk(strconv.AppendUint(nil, cur, 10)), d.Elems[1])
}

// randomKey asks a random shard for a key, then the next ones while they answer nil, up
// to every shard (or MaxShards of them).
func (f *Fanout) randomKey(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	ctx, ok := router.SharedLane(ctx, req.Conn())
	if !ok {
		next.ServeRESP(ctx, w, req)
		return
	}
	n := max(f.sharded.Shards(), 1)
	tries := n
	if f.max > 0 && tries > f.max {
		tries = f.max
	}
	start := rand.IntN(n)
	// A copy: a retry is sent from a callback, and should the proxy have answered the
	// command itself meanwhile (its reply timeout), the request's memory is reused.
	cmd := req.Command().Clone()
	var try func(k int)
	try = func(k int) {
		f.sharded.SendShard(ctx, (start+k)%n, cmd, func(v resp.Value, err error) {
			if err == nil && v.IsNull() && k+1 < tries {
				try(k + 1)
				return
			}
			if err != nil {
				v = proxy.ErrorReply(err)
			}
			w.WriteReply(v)
		})
	}
	try(0)
}
