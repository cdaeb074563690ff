package command

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/redchain/redchain/proxy/resp"
)

// Replies of the merges.
var (
	errUnexpected = resp.Error("ERR", "redchain: unexpected reply from a shard")
	errDiffer     = resp.Error("ERR", "redchain: shards gave different replies")
)

// MergeReplies merges the replies of the shards a command was sent to, by the command's
// response policy r, as Redis Cluster clients do (see [Response]); the replies may be
// raw. For ResponseDefault the replies are arrays (or sets), concatenated (KEYS). An
// error reply of a shard is the merged reply, except for OneSucceeded, where it is one
// only if every shard answered an error (the first that is not -NOTBUSY, if any); a
// reply of the wrong type is an error reply.
// ResponseSpecial has no generic merge: it returns an error reply.
func MergeReplies(r Response, parts []resp.Value) resp.Value {
	switch r {
	case OneSucceeded:
		var first resp.Value
		for _, v := range parts {
			d, bad := decodeReply(v)
			if bad.Type == 0 {
				return d
			}
			if first.Type == 0 || bytes.HasPrefix(first.Str, []byte("NOTBUSY")) {
				// A server with nothing to kill says least: SCRIPT KILL while a
				// function runs elsewhere is that server's -BUSY, as one Redis answers.
				first = bad
			}
		}
		return first
	case AllSucceeded:
		var first resp.Value
		for i, v := range parts {
			d, bad := decodeReply(v)
			if bad.Type != 0 {
				return bad
			}
			if i == 0 {
				first = d
			} else if !sameReply(first, d) {
				return errDiffer
			}
		}
		return first
	case AggLogicalAnd, AggLogicalOr, AggMin, AggMax, AggSum:
		return aggregate(r, parts)
	case ResponseDefault:
		return concat(parts, false)
	}
	return errUnexpected
}

// concat concatenates the arrays (or RESP3 sets) of parts, keeping each element once
// when unique (compared by its string). An error reply of a part is the result.
func concat(parts []resp.Value, unique bool) resp.Value {
	var out []resp.Value
	var seen map[string]bool
	if unique {
		seen = map[string]bool{}
	}
	for _, v := range parts {
		d, bad := decodeReply(v)
		if bad.Type != 0 {
			return bad
		}
		if d.Type != resp.TypeArray && d.Type != resp.TypeSet {
			return errUnexpected
		}
		for _, e := range d.Elems {
			if unique {
				if seen[string(e.Str)] {
					continue
				}
				seen[string(e.Str)] = true
			}
			out = append(out, e)
		}
	}
	return resp.Array(out...)
}

// aggregate combines integers, or arrays of integers element by element.
func aggregate(r Response, parts []resp.Value) resp.Value {
	var acc resp.Value
	for i, v := range parts {
		d, bad := decodeReply(v)
		if bad.Type != 0 {
			return bad
		}
		switch {
		case d.Type == resp.TypeInteger && (i == 0 || acc.Type == resp.TypeInteger):
			if i == 0 {
				acc = d
			} else {
				acc.Int = combine(r, acc.Int, d.Int)
			}
		case d.Type == resp.TypeArray && (i == 0 || acc.Type == resp.TypeArray && len(acc.Elems) == len(d.Elems)):
			if i == 0 {
				acc = resp.Array(make([]resp.Value, len(d.Elems))...)
			}
			for j, e := range d.Elems {
				if e.Type != resp.TypeInteger {
					return errUnexpected
				}
				if i == 0 {
					acc.Elems[j] = e
				} else {
					acc.Elems[j].Int = combine(r, acc.Elems[j].Int, e.Int)
				}
			}
		default:
			return errUnexpected
		}
	}
	return acc
}

func combine(r Response, a, b int64) int64 {
	switch r {
	case AggLogicalAnd:
		if a != 0 && b != 0 {
			return 1
		}
		return 0
	case AggLogicalOr:
		if a != 0 || b != 0 {
			return 1
		}
		return 0
	case AggMin:
		return min(a, b)
	case AggMax:
		return max(a, b)
	}
	return a + b
}

// decodeReply decodes a shard's reply. A reply that is an error, or that cannot be
// decoded, comes back as bad, which is then the merged reply; else bad is the zero Value.
func decodeReply(v resp.Value) (d, bad resp.Value) {
	d, err := v.Decode()
	switch {
	case err != nil:
		return d, errUnexpected
	case d.IsError():
		return d, d
	}
	return d, resp.Value{}
}

// sameReply reports whether two decoded replies are equal (AllSucceeded: OK and OK, or
// the same digest from SCRIPT LOAD).
func sameReply(a, b resp.Value) bool {
	return bytes.Equal(a.AppendTo(nil), b.AppendTo(nil))
}

// MergeSet merges arrays (or RESP3 sets) of names into one with each name once, in the
// order first seen: PUBSUB CHANNELS and SHARDCHANNELS, whose channels may have
// subscribers on several shards. An error reply of a shard is the merged reply.
func MergeSet(parts []resp.Value) resp.Value { return concat(parts, true) }

// MergeCounts merges the name, count, name, count... arrays (RESP3: maps) of PUBSUB
// NUMSUB and SHARDNUMSUB, which every shard gives for the same names in the same order:
// the counts are summed. An error reply of a shard is the merged reply.
func MergeCounts(parts []resp.Value) resp.Value {
	var acc resp.Value
	for i, v := range parts {
		d, bad := decodeReply(v)
		if bad.Type != 0 {
			return bad
		}
		if d.Type != resp.TypeArray && d.Type != resp.TypeMap || len(d.Elems)%2 != 0 {
			return errUnexpected
		}
		if i == 0 {
			acc = d
			continue
		}
		if len(d.Elems) != len(acc.Elems) || d.Type != acc.Type {
			return errUnexpected
		}
		for j := 1; j < len(d.Elems); j += 2 {
			if d.Elems[j].Type != resp.TypeInteger || acc.Elems[j].Type != resp.TypeInteger {
				return errUnexpected
			}
			acc.Elems[j].Int += d.Elems[j].Int
		}
	}
	return acc
}

// MergeSlowlog merges the SLOWLOG GET replies of the shards into one Redis's: every
// shard's entries, newest first (by their time, then their ID), at most count of them
// (count < 0: all), as SLOWLOG GET [count] gives its own. Entry IDs are each shard's
// own. An error reply of a shard is the merged reply.
func MergeSlowlog(parts []resp.Value, count int) resp.Value {
	all := concat(parts, false)
	if all.Type != resp.TypeArray {
		return all
	}
	at := func(e resp.Value, i int) int64 {
		if len(e.Elems) > i && e.Elems[i].Type == resp.TypeInteger {
			return e.Elems[i].Int
		}
		return 0
	}
	slices.SortStableFunc(all.Elems, func(a, b resp.Value) int {
		if c := cmp.Compare(at(b, 1), at(a, 1)); c != 0 {
			return c
		}
		return cmp.Compare(at(b, 0), at(a, 0))
	})
	if count >= 0 && len(all.Elems) > count {
		all.Elems = all.Elems[:count]
	}
	return all
}
