package rewrite

import (
	"strings"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// stripWriter takes the prefix off the keys of a reply before passing it on. It runs
// on whatever goroutine writes the reply.
type stripWriter struct {
	w      proxy.ReplyWriter
	prefix string
	kind   command.ReplyShape
}

// WriteReply decodes v, strips the prefix from the keys it holds, and writes the result.
// Errors, nulls and replies of an unexpected shape pass as they are.
func (s *stripWriter) WriteReply(v resp.Value) bool {
	d, err := v.Decode()
	if err != nil || d.IsError() || d.IsNull() {
		return s.w.WriteReply(v)
	}
	return s.w.WriteReply(s.strip(d))
}

func (s *stripWriter) strip(v resp.Value) resp.Value {
	switch s.kind {
	case command.ReplyKeyArray:
		return s.each(v, 1)
	case command.ReplyScan:
		if aggregate(v) && len(v.Elems) == 2 && aggregate(v.Elems[1]) {
			v.Elems = clone(v.Elems)
			v.Elems[1] = s.each(v.Elems[1], 1)
		}
	case command.ReplyFirstKey:
		if aggregate(v) && len(v.Elems) > 0 {
			v.Elems = clone(v.Elems)
			v.Elems[0] = s.key(v.Elems[0])
		}
	case command.ReplyStreams:
		if v.Type == resp.TypeMap {
			return s.each(v, 2) // RESP3: stream name, entries, ...
		}
		if aggregate(v) {
			v.Elems = clone(v.Elems)
			for i, e := range v.Elems {
				if aggregate(e) && len(e.Elems) > 0 {
					e.Elems = clone(e.Elems)
					e.Elems[0] = s.key(e.Elems[0])
					v.Elems[i] = e
				}
			}
		}
	}
	return v
}

// each strips every step-th element of an aggregate, from the first.
func (s *stripWriter) each(v resp.Value, step int) resp.Value {
	if !aggregate(v) {
		return v
	}
	v.Elems = clone(v.Elems)
	for i := 0; i < len(v.Elems); i += step {
		v.Elems[i] = s.key(v.Elems[i])
	}
	return v
}

// key strips the prefix from one key (a bulk or simple string).
func (s *stripWriter) key(v resp.Value) resp.Value {
	if (v.Type == resp.TypeBulkString || v.Type == resp.TypeSimpleString) && v.Raw == nil &&
		strings.HasPrefix(string(v.Str), s.prefix) {
		v.Str = v.Str[len(s.prefix):]
	}
	return v
}

func aggregate(v resp.Value) bool {
	switch v.Type {
	case resp.TypeArray, resp.TypeSet, resp.TypeMap, resp.TypePush:
		return v.Raw == nil
	}
	return false
}

// clone copies a slice of elements, so that a reply that was not raw (its elements
// belong to whoever wrote it) is never modified.
func clone(e []resp.Value) []resp.Value { return append([]resp.Value(nil), e...) }

var _ proxy.ReplyWriter = (*stripWriter)(nil)
