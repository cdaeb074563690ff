package fanout

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// sort runs SORT and SORT_RO whose BY or GET patterns name keys, or whose STORE
// destination lives in another group than the sorted key, as one Redis would: a shard
// cannot (a cluster node refuses BY and GET patterns altogether, and the keys a pattern
// forms live anywhere). The sorted key's shard gives the elements; the weights of BY
// and the values of GET are read where their keys live (GET, or HGET for key->field);
// the elements are sorted here as sortCommandGeneric (sort.c) sorts them; STORE
// replaces the destination (DEL, then RPUSH). It reads and writes as separate commands,
// not atomically. Any other SORT goes on whole.
func (f *Fanout) sort(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, lane Lane) bool {
	args := req.Args()
	if len(args) < 2 {
		return false // the shard gives Redis's arity error
	}
	q, bad := command.ParseSort(args)
	if bad.Type != 0 {
		w.WriteReply(bad)
		return true
	}
	if !q.Sorts() && len(q.Gets) == 0 && (q.Store == nil || f.sameGroup(q.Key, q.Store)) {
		return false
	}
	sctx, ok := lane.Shared(ctx)
	if !ok {
		return false
	}
	r := &sortRun{f: f, ctx: sctx, w: w, q: q}
	// The request's arguments are borrowed: keep copies.
	r.q.Key, r.q.By, r.q.Store = bytes.Clone(q.Key), bytes.Clone(q.By), bytes.Clone(q.Store)
	r.q.Gets = make([][]byte, len(q.Gets))
	for i, g := range q.Gets {
		r.q.Gets[i] = bytes.Clone(g)
	}
	r.start()
	return true
}

// sameGroup reports whether keys a and b live in one group.
func (f *Fanout) sameGroup(a, b []byte) bool {
	ga, _ := f.locate(a)
	gb, _ := f.locate(b)
	return ga == gb
}

// sortRun is one SORT run over the shards, step by step: each step's replies come on
// the backend's goroutines, and the last one starts the next step.
type sortRun struct {
	f   *Fanout
	ctx context.Context
	w   proxy.ReplyWriter
	q   command.Sort
}

// Errors of a SORT over the shards, in Redis's words where Redis has them.
var errSortScores = resp.Error("ERR", "One or more scores can't be converted into double")

// start asks the sorted key's shard for its elements. By weights: every element, in
// the key's order. Otherwise the shard sorts and limits them itself (SORT key [BY
// nosort] [ALPHA] [DESC] [LIMIT]), but for BY nosort with STORE: Redis then sorts a set
// (ALPHA), which the proxy learns from TYPE first.
func (r *sortRun) start() {
	q := r.q
	if q.Sorts() {
		r.send(resp.NewCommand("SORT", string(q.Key), "BY", "nosort"), r.weigh)
		return
	}
	ranged := func(alpha, nosort bool) resp.Command {
		args := []string{"SORT", string(q.Key)}
		if nosort {
			args = append(args, "BY", "nosort")
		}
		if alpha {
			args = append(args, "ALPHA")
		}
		if q.Desc {
			args = append(args, "DESC")
		}
		args = append(args, "LIMIT", strconv.FormatInt(q.Offset, 10), strconv.FormatInt(q.Count, 10))
		return resp.NewCommand(args...)
	}
	if q.By == nil || q.Store == nil {
		r.send(ranged(q.Alpha, q.By != nil), r.get)
		return
	}
	r.f.sharded.Send(r.ctx, resp.NewCommand("TYPE", string(q.Key)), func(v resp.Value, err error) {
		if err != nil {
			r.w.WriteReply(proxy.ErrorReply(err))
			return
		}
		d, _ := v.Decode()
		set := d.Type == resp.TypeSimpleString && string(d.Str) == "set"
		r.send(ranged(set, !set), r.get)
	})
}

// send sends the SORT of step one and gives its elements to next.
func (r *sortRun) send(cmd resp.Command, next func(elems [][]byte)) {
	r.f.sharded.Send(r.ctx, cmd, func(v resp.Value, err error) {
		if err != nil {
			r.w.WriteReply(proxy.ErrorReply(err))
			return
		}
		d, bad := decode(v)
		if bad.Type != 0 {
			r.w.WriteReply(bad)
			return
		}
		if d.Type != resp.TypeArray && d.Type != resp.TypeSet {
			r.w.WriteReply(unexpected)
			return
		}
		elems := make([][]byte, len(d.Elems))
		for i, e := range d.Elems {
			elems[i] = bytes.Clone(e.Str)
		}
		next(elems)
	})
}

// weigh reads the weight of every element (BY's pattern), sorts them by it, and keeps
// LIMIT's range.
func (r *sortRun) weigh(elems [][]byte) {
	pats := make([]command.SortPattern, len(elems))
	for i, e := range elems {
		pats[i] = command.SortLookup(r.q.By, e)
	}
	r.lookup(pats, elems, func(weights []value) {
		type item struct {
			elem  []byte
			w     value
			score float64
		}
		items := make([]item, len(elems))
		for i, e := range elems {
			items[i] = item{elem: e, w: weights[i]}
			if r.q.Alpha || !weights[i].ok || len(weights[i].b) == 0 {
				continue // a missing weight is 0; so is an empty one, as strtod reads it
			}
			s, err := strconv.ParseFloat(string(weights[i].b), 64)
			if err != nil || math.IsNaN(s) {
				r.w.WriteReply(errSortScores)
				return
			}
			items[i].score = s
		}
		slices.SortStableFunc(items, func(a, b item) int {
			var c int
			switch {
			case !r.q.Alpha:
				if c = cmpFloat(a.score, b.score); c == 0 {
					c = bytes.Compare(a.elem, b.elem)
				}
			case !a.w.ok || !b.w.ok:
				c = boolCmp(a.w.ok, b.w.ok) // a missing weight first
			default:
				c = bytes.Compare(a.w.b, b.w.b)
			}
			if r.q.Desc {
				return -c
			}
			return c
		})
		first, last := r.q.Range(len(items))
		out := make([][]byte, 0, max(last-first+1, 0))
		for i := first; i <= last; i++ {
			out = append(out, items[i].elem)
		}
		r.get(out)
	})
}

// cmpFloat compares two scores.
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// boolCmp orders false before true.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// get reads the GET patterns' values of the elements kept, in order, and answers.
func (r *sortRun) get(elems [][]byte) {
	if len(r.q.Gets) == 0 {
		vals := make([]value, len(elems))
		for i, e := range elems {
			vals[i] = value{b: e, ok: true}
		}
		r.answer(vals)
		return
	}
	pats := make([]command.SortPattern, 0, len(elems)*len(r.q.Gets))
	owners := make([][]byte, 0, cap(pats))
	for _, e := range elems {
		for _, g := range r.q.Gets {
			pats = append(pats, command.SortLookup(g, e))
			owners = append(owners, e)
		}
	}
	r.lookup(pats, owners, r.answer)
}

// answer replies with vals, or stores them at STORE's destination (a missing one as an
// empty string) and replies with their number.
func (r *sortRun) answer(vals []value) {
	if r.q.Store == nil {
		out := make([]resp.Value, len(vals))
		for i, v := range vals {
			out[i] = resp.NullBulk
			if v.ok {
				out[i] = resp.Bulk(v.b)
			}
		}
		r.w.WriteReply(resp.Array(out...))
		return
	}
	del := resp.Command{Args: [][]byte{[]byte("DEL"), r.q.Store}}
	if len(vals) == 0 {
		r.f.sharded.Send(r.ctx, del, func(_ resp.Value, err error) {
			if err != nil {
				r.w.WriteReply(proxy.ErrorReply(err))
				return
			}
			r.w.WriteReply(resp.Integer(0))
		})
		return
	}
	push := resp.Command{Args: make([][]byte, 0, 2+len(vals))}
	push.Args = append(push.Args, []byte("RPUSH"), r.q.Store)
	for _, v := range vals {
		push.Args = append(push.Args, v.b) // nil when missing: an empty string
	}
	r.f.sharded.Send(r.ctx, del, func(resp.Value, error) {})
	r.f.sharded.Send(r.ctx, push, func(v resp.Value, err error) {
		switch {
		case err != nil:
			r.w.WriteReply(proxy.ErrorReply(err))
		case v.IsError():
			r.w.WriteReply(v)
		default:
			r.w.WriteReply(resp.Integer(int64(len(vals))))
		}
	})
}

// value is what a pattern named: ok false when nothing (no such key or field, a key of
// another type, a pattern without '*').
type value struct {
	b  []byte
	ok bool
}

// lookup reads what each pattern names (elems[i] is pats[i]'s element, for "#") where
// it lives, and gives the values to next in order; an error of a shard (other than a
// key of another type, which names nothing) is the command's reply instead.
func (r *sortRun) lookup(pats []command.SortPattern, elems [][]byte, next func([]value)) {
	vals := make([]value, len(pats))
	var mu sync.Mutex
	left := 1 // this function's own share, given up at the end
	var failed resp.Value
	done := func() {
		mu.Lock()
		left--
		last := left == 0
		mu.Unlock()
		if !last {
			return
		}
		if failed.Type != 0 {
			r.w.WriteReply(failed)
			return
		}
		next(vals)
	}
	shards := map[int]bool{}
	for i, p := range pats {
		switch {
		case p.Self:
			vals[i] = value{b: elems[i], ok: true}
			continue
		case p.None:
			continue
		}
		if r.f.max > 0 {
			if _, s := r.f.locate(p.Key); !shards[s] {
				shards[s] = true
				if len(shards) > r.f.max {
					mu.Lock()
					failed = r.f.tooWide([]byte("sort"), len(shards))
					mu.Unlock()
					break
				}
			}
		}
		cmd := resp.Command{Args: [][]byte{[]byte("GET"), p.Key}}
		if p.Field != nil {
			cmd.Args = [][]byte{[]byte("HGET"), p.Key, p.Field}
		}
		mu.Lock()
		left++
		mu.Unlock()
		r.f.sharded.Send(r.ctx, cmd, func(v resp.Value, err error) {
			mu.Lock()
			switch {
			case err != nil:
				if failed.Type == 0 {
					failed = proxy.ErrorReply(err)
				}
			case v.IsError():
				if d, _ := v.Decode(); !bytes.HasPrefix(d.Str, []byte("WRONGTYPE")) && failed.Type == 0 {
					failed = resp.Value{Type: resp.TypeError, Str: bytes.Clone(d.Str)}
				}
			case !v.IsNull():
				if d, derr := v.Decode(); derr == nil {
					vals[i] = value{b: bytes.Clone(d.Str), ok: true}
				}
			}
			mu.Unlock()
			done()
		})
	}
	done()
}
