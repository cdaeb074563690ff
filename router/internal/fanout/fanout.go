package fanout

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// Lane is the router's say over a client's commands that the fan-out sends to the
// backend itself, around the router's lanes (the router's session of the client
// implements it).
type Lane interface {
	// Shared reports whether the client's commands may go to the backend's shared
	// connections now, and returns the ctx to send them with (the client's protocol).
	// When it reports false the command must take the router's way, whole.
	Shared(ctx context.Context) (context.Context, bool)
}

// Fanout splits, spreads and refuses commands for one sharded backend. It is safe for
// concurrent use by every connection of a server; see the package doc.
type Fanout struct {
	sharded backend.Sharded
	locate  func([]byte) (group, shard int)
	max     int
	plans   sync.Pool // *command.Plan
}

// New returns the fan-out of b. maxShards is the most shards one command may be sent to
// at once (0: no cap; the router refuses a negative one).
func New(b backend.Sharded, maxShards int) *Fanout {
	f := &Fanout{sharded: b, locate: b.Locate, max: maxShards}
	f.plans.New = func() any { return new(command.Plan) }
	return f
}

// Replies of the fan-out's own.
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

// Serve splits, spreads or refuses req, whose command is c (as command.Check found
// it), as the package doc says, and reports true: it has answered req or will. It
// reports false when req is to go on whole, as the router sends it; that path
// allocates nothing.
func (f *Fanout) Serve(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info, lane Lane) bool {
	args := req.Args()
	switch {
	case c.Request == command.MultiShard:
		return f.split(ctx, w, req, lane)
	case c.ClassOf(args) == command.EveryShard:
		if special, ok := specials[c.Name]; ok {
			return special(f, ctx, w, req, lane)
		}
		if c.Response != command.ResponseSpecial {
			return f.everyShard(ctx, w, req, lane, func(parts []resp.Value) resp.Value {
				return command.MergeReplies(c.Response, parts)
			}, false)
		}
		// A merge of its own that is not written yet (INFO, MEMORY STATS...): one shard
		// answers, as the router sends it.
	}
	if c.Patterns == command.PatternSort && f.sort(ctx, w, req, lane) {
		return true
	}
	if !f.oneGroup(args) {
		w.WriteReply(crossSlot)
		return true
	}
	return false
}

// special is the Serve of a whole-keyspace command with a policy of its own.
type special func(f *Fanout, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane) bool

// specials are the whole-keyspace commands with a policy of their own.
var specials = map[string]special{
	"scan":      (*Fanout).scan,
	"randomkey": (*Fanout).randomKey,
	"info": func(f *Fanout, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane) bool {
		// Merged even from one shard: a one-node cluster presents itself standalone too.
		return f.everyShard(ctx, w, req, lane, command.MergeInfo, true)
	},
	"pubsub|channels":      merged(command.MergeSet),
	"pubsub|shardchannels": merged(command.MergeSet),
	"pubsub|numsub":        merged(command.MergeCounts),
	"pubsub|shardnumsub":   merged(command.MergeCounts),
	"pubsub|numpat": merged(func(parts []resp.Value) resp.Value {
		return command.MergeReplies(command.AggSum, parts)
	}),
	"slowlog|get": func(f *Fanout, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane) bool {
		count := 10 // SLOWLOG GET's default
		if args := req.Args(); len(args) == 3 {
			if n, err := strconv.Atoi(string(args[2])); err == nil {
				count = n // a bad one: every shard refuses it
			}
		}
		return f.everyShard(ctx, w, req, lane, func(parts []resp.Value) resp.Value {
			return command.MergeSlowlog(parts, count)
		}, false)
	},
}

// merged is the special of a command sent to every shard and merged by merge.
func merged(merge func([]resp.Value) resp.Value) special {
	return func(f *Fanout, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane) bool {
		return f.everyShard(ctx, w, req, lane, merge, false)
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

// split splits a multi-key command (MGET, MSET, DEL...) by group, or leaves it whole
// when its keys share one.
func (f *Fanout) split(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane) bool {
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
		return false
	}
	sctx, ok := lane.Shared(ctx)
	if !ok {
		return false
	}
	p := f.plans.Get().(*command.Plan)
	if !command.Split(req.Command(), f.locate, p) || len(p.Parts) == 1 {
		f.plans.Put(p)
		return false
	}
	if f.max > 0 && p.Shards > f.max {
		shards := p.Shards
		f.plans.Put(p)
		w.WriteReply(f.tooWide(req.Name(), shards))
		return true
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
		f.sharded.Send(sctx, p.Parts[i].Cmd, proxy.Callback(ws[i]))
	}
	f.plans.Put(p)
	return true
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
func (f *Fanout) everyShard(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane, merge func([]resp.Value) resp.Value, mergeOne bool) bool {
	ctx, ok := lane.Shared(ctx)
	if !ok {
		return false
	}
	n := f.sharded.Shards()
	if f.max > 0 && n > f.max {
		w.WriteReply(f.tooWide(req.Name(), n))
		return true
	}
	cmd := req.Command()
	if n == 1 && !mergeOne {
		f.sharded.SendShard(ctx, 0, cmd, proxy.Callback(w))
		return true
	}
	ws := proxy.Gather(w, n, merge)
	for i, pw := range ws {
		f.sharded.SendShard(ctx, i, cmd, proxy.Callback(pw))
	}
	return true
}

// scan runs SCAN on one shard at a time. The client's cursor holds the shard in its low
// bits and that shard's own cursor above them; when a shard's scan ends, the cursor
// moves to the next shard, and 0 comes back after the last one.
func (f *Fanout) scan(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane) bool {
	args := req.Args()
	if len(args) < 2 {
		return false // the shard gives Redis's arity error
	}
	n := f.sharded.Shards()
	if n > maxScanShards {
		w.WriteReply(resp.Error("ERR", fmt.Sprintf("redchain: SCAN over %d shards, more than %d", n, maxScanShards)))
		return true
	}
	cur, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		w.WriteReply(badCursor)
		return true
	}
	ctx, ok := lane.Shared(ctx)
	if !ok {
		return false
	}
	shard := int(cur & (maxScanShards - 1))
	if shard >= n {
		w.WriteReply(badCursor)
		return true
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
	return true
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
func (f *Fanout) randomKey(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane) bool {
	ctx, ok := lane.Shared(ctx)
	if !ok {
		return false
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
	return true
}
