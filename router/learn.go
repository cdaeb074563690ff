package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/proxy/resp"
)

// learned holds the commands Learn added: a map from lower-case name to command that is
// never modified once published, so that Lookup reads it without a lock. Learn replaces
// it whole (copy on write), under learnMu.
var (
	learned atomic.Pointer[map[string]*Command]
	learnMu sync.Mutex
)

// known reports whether the generated table has a command called name (lower case).
// Tests replace it to have Learn learn commands the table knows.
var known = func(name string) bool {
	_, ok := commandIndex[name]
	return ok
}

// lookupLearned returns the learned command called name (lower case), if any.
func lookupLearned(name []byte) (*Command, bool) {
	m := learned.Load()
	if m == nil {
		return nil, false
	}
	c, ok := (*m)[string(name)]
	return c, ok
}

// Learn asks b which commands its server has (COMMAND) and adds to the table that
// [Lookup] consults every command the generated table does not know: module commands
// (JSON.SET, FT.SEARCH, ...) and those of a Redis newer than [RedisVersion], with their
// arity, flags and key positions (Redis 7's key specs, or, from an older server or a
// module that declares none, the first/last/step triple). It returns how many commands it
// added; commands already known or learned are left as they are. Call it at start, before
// the proxy serves: a command learned later is only seen by the commands looked up after.
//
// Learn waits for the reply, or for ctx to end: it must not be called on an event loop.
// Safe from any goroutine; Lookup stays lock-free and, for the commands of the generated
// table, consults nothing else.
func Learn(ctx context.Context, b backend.Backend) (n int, err error) {
	type result struct {
		v   resp.Value
		err error
	}
	ch := make(chan result, 1)
	b.Send(ctx, resp.NewCommand("COMMAND"), func(v resp.Value, err error) {
		ch <- result{v.Clone(), err} // the reply is borrowed: keep a copy
	})
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return 0, fmt.Errorf("router: learn: COMMAND: %w", ctx.Err())
	}
	if r.err != nil {
		return 0, fmt.Errorf("router: learn: COMMAND: %w", r.err)
	}
	return learnReply(r.v)
}

// learnReply adds the unknown commands of a COMMAND reply.
func learnReply(v resp.Value) (int, error) {
	v, err := v.Decode()
	if err != nil {
		return 0, fmt.Errorf("router: learn: COMMAND: %w", err)
	}
	if v.IsError() {
		return 0, fmt.Errorf("router: learn: COMMAND: %s", v.Str)
	}
	if v.Type != resp.TypeArray && v.Type != resp.TypeSet {
		return 0, fmt.Errorf("router: learn: COMMAND: reply of type %s, want an array", v.Type)
	}
	learnMu.Lock()
	defer learnMu.Unlock()
	next := map[string]*Command{}
	if old := learned.Load(); old != nil {
		for k, c := range *old {
			next[k] = c
		}
	}
	added := 0
	for _, e := range v.Elems {
		c, err := parseCommand(e, "")
		if err != nil {
			return 0, fmt.Errorf("router: learn: COMMAND: %w", err)
		}
		if len(c.Name) > maxName || known(c.Name) || next[c.Name] != nil {
			continue
		}
		next[c.Name] = c
		added++
	}
	if added > 0 {
		learned.Store(&next)
	}
	return added, nil
}

// errEntry is the error for a COMMAND entry that is not what Redis sends.
var errEntry = errors.New("malformed command entry")

// parseCommand reads one entry of COMMAND's reply: name, arity, flags, first key, last
// key, key step, and from Redis 7 on ACL categories, tips, key specs and subcommands.
// parent is the container's name for a subcommand.
func parseCommand(e resp.Value, parent string) (*Command, error) {
	if len(e.Elems) < 6 || e.Elems[1].Type != resp.TypeInteger {
		return nil, fmt.Errorf("%w: %s", errEntry, e)
	}
	c := &Command{Name: strings.ToLower(string(e.Elems[0].Str)), Arity: int(e.Elems[1].Int)}
	if c.Name == "" || parent != "" && !strings.HasPrefix(c.Name, parent+"|") {
		return nil, fmt.Errorf("%w: name %q", errEntry, e.Elems[0].Str)
	}
	for _, f := range e.Elems[2].Elems {
		for _, n := range flagNames {
			if strings.EqualFold(n.name, string(f.Str)) {
				c.Flags |= n.flag
			}
		}
	}
	if len(e.Elems) > 8 {
		for _, s := range e.Elems[8].Elems {
			c.specs = append(c.specs, parseSpec(s))
		}
	}
	if len(c.specs) == 0 {
		// No key specs (Redis 6, or a module that declares none): the legacy triple.
		first, last, step := e.Elems[3].Int, e.Elems[4].Int, e.Elems[5].Int
		if first > 0 && step > 0 {
			s := keySpec{bs: bsIndex, start: int(first), fk: fkRange, keyStep: int(step)}
			if last < 0 {
				s.lastKey = int(last) // from the end, as in a range spec
			} else {
				s.lastKey = int(max(last-first, 0))
			}
			c.specs = []keySpec{s}
		}
	}
	if len(e.Elems) > 9 {
		for _, sub := range e.Elems[9].Elems {
			s, err := parseCommand(sub, c.Name)
			if err != nil {
				return nil, err
			}
			c.subs = append(c.subs, *s)
		}
		slices.SortFunc(c.subs, func(a, b Command) int { return strings.Compare(a.Name, b.Name) })
	}
	return c, nil
}

// parseSpec reads one key spec of COMMAND's reply (a map, or in RESP2 an array of keys
// and values). What it does not understand becomes an unknown search or find step:
// Keys then skips the spec, as Redis falls back when a spec is incomplete.
func parseSpec(v resp.Value) keySpec {
	m := fields(v)
	var s keySpec
	for _, f := range m["flags"].Elems {
		switch strings.ToLower(string(f.Str)) {
		case "incomplete":
			s.flags |= specIncomplete
		case "not_key":
			s.flags |= specNotKey
		case "variable_flags":
			s.flags |= specVariableFlags
		}
	}
	bs := fields(m["begin_search"])
	bspec := fields(bs["spec"])
	switch strings.ToLower(string(bs["type"].Str)) {
	case "index":
		s.bs, s.start = bsIndex, int(bspec["index"].Int)
	case "keyword":
		s.bs, s.start = bsKeyword, int(bspec["startfrom"].Int)
		s.keyword = strings.ToLower(string(bspec["keyword"].Str))
	}
	fk := fields(m["find_keys"])
	fspec := fields(fk["spec"])
	switch strings.ToLower(string(fk["type"].Str)) {
	case "range":
		s.fk = fkRange
		s.lastKey, s.keyStep, s.limit = int(fspec["lastkey"].Int), int(fspec["keystep"].Int), int(fspec["limit"].Int)
	case "keynum":
		s.fk = fkKeynum
		s.keyNumIdx, s.firstKey, s.keyStep = int(fspec["keynumidx"].Int), int(fspec["firstkey"].Int), int(fspec["keystep"].Int)
	}
	return s
}

// fields reads a map, or an array of keys and values, into a map by lower-case key.
func fields(v resp.Value) map[string]resp.Value {
	m := map[string]resp.Value{}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		m[strings.ToLower(string(v.Elems[i].Str))] = v.Elems[i+1]
	}
	return m
}
