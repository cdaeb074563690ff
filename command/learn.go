package command

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redchain/redchain/proxy/resp"
)

// learnedSet is what Learn learned from a server: the commands the table lacks, and the
// names of every command the server has. It is never modified once published, so that
// Lookup reads it without a lock; Learn replaces it whole (copy on write), under learnMu.
type learnedSet struct {
	extra  map[string]*Info    // commands the table does not have
	server map[string]struct{} // every command name the server listed
}

var (
	learned atomic.Pointer[learnedSet]
	learnMu sync.Mutex
)

// inTable reports whether the generated table has a command called name (lower case).
// Tests replace it to have Learn learn commands the table knows.
var inTable = func(name string) bool {
	_, ok := tableIndex[name]
	return ok
}

// lookupLearned returns the learned command called name (lower case), if any.
func lookupLearned(name []byte) (*Info, bool) {
	l := learned.Load()
	if l == nil {
		return nil, false
	}
	c, ok := l.extra[string(name)]
	return c, ok
}

// ServerLacks reports whether a server's command list has been learned ([Learn]) and
// does not have the command called name (any case): such a command gets Redis's
// unknown-command error from the server. It is false when nothing was learned. It does
// not allocate.
func ServerLacks(name []byte) bool {
	l := learned.Load()
	if l == nil || len(name) > maxName {
		return false
	}
	var buf [maxName]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	_, ok := l.server[string(buf[:len(name)])]
	return !ok
}

// Learn reads reply, a server's answer to COMMAND, and adds to the commands [Lookup]
// finds every one the table does not have: module commands (JSON.SET, FT.SEARCH, ...)
// and those of a Redis newer than [TableVersion], with their arity, flags, ACL
// categories, command tips and key positions (Redis 7's key specs, or, from an older
// server or a module that declares none, the first/last/step triple). It classifies them
// by the same rules as the table's ([Class]): a learned command is Shared only when it is
// a plain data command; others keep a connection of the client's own. It also records
// the server's command names, for [ServerLacks]. It returns how many commands it added;
// those already known or learned stay as they are.
//
// Call it before the proxy serves (router.Learn sends COMMAND and calls it): a command
// learned later is only seen by the lookups after. Safe from any goroutine; Lookup stays
// lock-free and, for the table's commands, consults nothing else.
func Learn(reply resp.Value) (n int, err error) {
	v, err := reply.Decode()
	if err != nil {
		return 0, fmt.Errorf("command: learn: COMMAND: %w", err)
	}
	if v.IsError() {
		return 0, fmt.Errorf("command: learn: COMMAND: %s", v.Str)
	}
	if v.Type != resp.TypeArray && v.Type != resp.TypeSet {
		return 0, fmt.Errorf("command: learn: COMMAND: reply of type %s, want an array", v.Type)
	}
	var cmds []*Info
	for _, e := range v.Elems {
		c, err := parseCommand(e, "")
		if err != nil {
			return 0, fmt.Errorf("command: learn: COMMAND: %w", err)
		}
		cmds = append(cmds, c)
	}
	learnMu.Lock()
	defer learnMu.Unlock()
	next := &learnedSet{extra: map[string]*Info{}, server: map[string]struct{}{}}
	if old := learned.Load(); old != nil {
		for k, c := range old.extra {
			next.extra[k] = c
		}
	}
	added := 0
	for _, c := range cmds {
		if len(c.Name) > maxName {
			continue
		}
		next.server[c.Name] = struct{}{}
		if inTable(c.Name) || next.extra[c.Name] != nil {
			continue
		}
		classifyTree(c, true)
		next.extra[c.Name] = c
		added++
	}
	learned.Store(next)
	return added, nil
}

// errEntry is the error for a COMMAND entry that is not what Redis sends.
var errEntry = errors.New("malformed command entry")

// parseCommand reads one entry of COMMAND's reply: name, arity, flags, first key, last
// key, key step, and from Redis 7 on ACL categories, tips, key specs and subcommands.
// parent is the container's name for a subcommand.
func parseCommand(e resp.Value, parent string) (*Info, error) {
	if len(e.Elems) < 6 || e.Elems[1].Type != resp.TypeInteger {
		return nil, fmt.Errorf("%w: %s", errEntry, e)
	}
	c := &Info{Name: strings.ToLower(string(e.Elems[0].Str)), Arity: int(e.Elems[1].Int)}
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
	if len(e.Elems) > 6 {
		for _, a := range e.Elems[6].Elems {
			name := strings.TrimPrefix(strings.ToLower(string(a.Str)), "@")
			for _, n := range categoryNames {
				if n.name == name {
					c.ACL |= n.cat
				}
			}
		}
	}
	if len(e.Elems) > 7 {
		for _, t := range e.Elems[7].Elems {
			kind, val, _ := strings.Cut(strings.ToLower(string(t.Str)), ":")
			switch kind {
			case "request_policy":
				if i := slices.Index(requestNames[:], val); i > 0 {
					c.Request = Request(i)
				}
			case "response_policy":
				if i := slices.Index(responseNames[:], val); i > 0 {
					c.Response = Response(i)
				}
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
		slices.SortFunc(c.subs, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	}
	return c, nil
}

// parseSpec reads one key spec of COMMAND's reply (a map, or in RESP2 an array of keys
// and values). What it does not understand becomes an unknown search or find step:
// Keys then finds no key with it, as Redis does with a spec it cannot use.
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
