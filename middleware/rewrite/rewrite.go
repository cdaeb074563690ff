package rewrite

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
	"github.com/redchain/redchain/router"
)

// Config configures a Rewrite. The zero value rewrites nothing.
type Config struct {
	// Rename maps the name a client sends to the name sent on, ignoring case:
	// {"SECRET-FLUSH": "FLUSHALL"}. An empty target hides the command: it is answered
	// as Redis answers an unknown command. {"FLUSHALL": "", "SECRET-FLUSH": "FLUSHALL"}
	// exposes FLUSHALL under a secret name only.
	Rename map[string]string
	// Deny lists commands, by the name sent on (after Rename), that are refused with
	// "-ERR command 'name' is denied by the proxy".
	Deny []string
	// Prefix puts every connection in the key namespace Prefix: every key argument gets
	// it, and keys in replies lose it. See README.md for what a namespace refuses.
	Prefix string
	// PrefixFunc gives the namespace of a connection instead of Prefix; it is called on
	// the connection's loop for each command (c is nil for a request built by
	// proxy.NewRequest). An empty result refuses every command that needs a namespace.
	PrefixFunc func(c *proxy.Conn) string
	// Allow lists commands that a namespace refuses by default and that are let through
	// all the same: lower-case names, "script" for a whole container command or
	// "script|flush" for one subcommand.
	Allow []string
}

// Rewrite is the middleware. It is safe for concurrent use by every connection of a
// server; see the package doc.
type Rewrite struct {
	rename     map[string]target
	deny       map[string]bool
	allow      map[string]bool
	prefix     string
	prefixFunc func(*proxy.Conn) string
	namespaced bool
	idle       bool // nothing to do: every command passes untouched
}

// target is what a renamed command becomes.
type target struct {
	name  []byte // as configured; shared by every rewritten command, never modified
	lower string
	hide  bool
}

var _ proxy.Middleware = (*Rewrite)(nil)

// New returns the middleware for cfg, after checking it: names must not be empty, nor
// differ only in case from one another; rename targets have no blanks; only one of
// Prefix and PrefixFunc.
func New(cfg Config) (*Rewrite, error) {
	r := &Rewrite{
		rename:     map[string]target{},
		deny:       map[string]bool{},
		allow:      map[string]bool{},
		prefix:     cfg.Prefix,
		prefixFunc: cfg.PrefixFunc,
		namespaced: cfg.Prefix != "" || cfg.PrefixFunc != nil,
	}
	if cfg.Prefix != "" && cfg.PrefixFunc != nil {
		return nil, fmt.Errorf("rewrite: both Prefix and PrefixFunc are set")
	}
	for from, to := range cfg.Rename {
		k := strings.ToLower(from)
		if k == "" || strings.ContainsAny(k, " \t\r\n") {
			return nil, fmt.Errorf("rewrite: Rename: bad command name %q", from)
		}
		if strings.ContainsAny(to, " \t\r\n") {
			return nil, fmt.Errorf("rewrite: Rename %q: bad target %q", from, to)
		}
		if _, dup := r.rename[k]; dup {
			return nil, fmt.Errorf("rewrite: Rename: %q is given twice", from)
		}
		r.rename[k] = target{name: []byte(to), lower: strings.ToLower(to), hide: to == ""}
	}
	for _, list := range []struct {
		field string
		names []string
		set   map[string]bool
	}{{"Deny", cfg.Deny, r.deny}, {"Allow", cfg.Allow, r.allow}} {
		for _, n := range list.names {
			k := strings.ToLower(n)
			if k == "" {
				return nil, fmt.Errorf("rewrite: %s: empty command name", list.field)
			}
			list.set[k] = true
		}
	}
	r.idle = len(r.rename) == 0 && len(r.deny) == 0 && !r.namespaced
	return r, nil
}

// ServeRESP renames, denies or namespaces the command, then passes it on. A command with
// nothing to change is passed on as it is, without allocating.
func (r *Rewrite) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if r.idle {
		next.ServeRESP(ctx, w, req)
		return
	}
	name := req.Name()
	if len(r.rename) > 0 {
		if t, ok := r.rename[string(name)]; ok {
			if t.hide {
				w.WriteReply(unknownCommand(req.Args()))
				return
			}
			if r.deny[t.lower] {
				w.WriteReply(denied(name))
				return
			}
			args := req.Args()
			n := arenaOf(req.Conn()).argSlice(len(args))
			copy(n, args)
			n[0] = t.name
			req.SetCommand(resp.Command{Args: n})
			r.serve(ctx, w, req, next)
			return
		}
	}
	if len(r.deny) > 0 && r.deny[string(name)] {
		w.WriteReply(denied(name))
		return
	}
	r.serve(ctx, w, req, next)
}

// serve namespaces the command when a namespace is configured, and passes it on.
func (r *Rewrite) serve(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if !r.namespaced || len(req.Args()) == 0 {
		next.ServeRESP(ctx, w, req)
		return
	}
	prefix := r.prefix
	if r.prefixFunc != nil {
		prefix = r.prefixFunc(req.Conn())
	}
	r.namespace(ctx, w, req, next, prefix)
}

// unknownCommand is Redis's answer to a command it does not know (server.c
// processCommand): the name as sent, and the first arguments quoted, up to 128 bytes.
func unknownCommand(args [][]byte) resp.Value {
	var b []byte
	for _, a := range args[1:] {
		if len(b) >= 128 {
			break
		}
		limit := 128 - len(b)
		b = append(b, '\'')
		b = append(b, a[:min(len(a), limit)]...)
		b = append(b, "' "...)
	}
	name := args[0][:min(len(args[0]), 128)]
	return resp.Error("ERR", "unknown command '"+string(name)+"', with args beginning with: "+string(b))
}

func denied(name []byte) resp.Value {
	return resp.Error("ERR", "command '"+string(name)+"' is denied by the proxy")
}

// defaultRefused are the commands a namespace refuses, besides those Redis flags admin
// and those the table does not know: they act on the whole keyspace, or move keys out of
// the namespace's reach.
var defaultRefused = map[string]bool{
	"flushall": true, "flushdb": true, "dbsize": true, "randomkey": true, "swapdb": true,
	"move": true, "select": true, "migrate": true, "cluster": true, "function": true,
	"script|flush": true, "script|kill": true,
}

// refused reports whether a namespace refuses cmd, whose subcommand (or cmd itself) is sub.
func (r *Rewrite) refused(cmd, sub *router.Command) bool {
	if r.allow[cmd.Name] || r.allow[sub.Name] {
		return false
	}
	return defaultRefused[cmd.Name] || defaultRefused[sub.Name] ||
		cmd.Flags&router.Admin != 0 || sub.Flags&router.Admin != 0
}

func notInNamespace(name string) resp.Value {
	return resp.Error("ERR", "command '"+strings.ReplaceAll(name, "|", " ")+"' is not allowed in a key namespace")
}

var noNamespace = resp.Error("NOPERM", "no key namespace for this connection")

// maxStackKeys is how many key positions are found without allocating.
const maxStackKeys = 16

// namespace prefixes the command's keys (and KEYS, SCAN and SORT patterns) with prefix,
// refuses what a namespace cannot serve, and wraps w when the reply names keys.
func (r *Rewrite) namespace(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler, prefix string) {
	args := req.Args()
	cmd, ok := router.Lookup(args[0])
	if !ok {
		if r.allow[string(req.Name())] {
			next.ServeRESP(ctx, w, req)
			return
		}
		w.WriteReply(notInNamespace(string(req.Name())))
		return
	}
	sub := cmd.Resolve(args)
	if r.refused(cmd, sub) {
		w.WriteReply(notInNamespace(sub.Name))
		return
	}
	var kb [maxStackKeys]int
	keys := cmd.Keys(args, kb[:0])
	special := cmd.Name == "keys" || cmd.Name == "scan" || cmd.Name == "sort" || cmd.Name == "sort_ro"
	if len(keys) == 0 && !special {
		next.ServeRESP(ctx, w, req)
		return
	}
	if prefix == "" {
		w.WriteReply(noNamespace)
		return
	}
	if special && len(args) > maxPatternArgs {
		// The patterns past the bit set of patterns() would go through unprefixed.
		w.WriteReply(resp.Error("ERR", "too many arguments for '"+cmd.Name+"' in a key namespace"))
		return
	}
	slices.Sort(keys) // a key two specs name is prefixed once

	// Size the new arguments: the keys and patterns that get the prefix.
	extra := 0 // arguments appended (SCAN's MATCH)
	size := 0
	pats := patterns(cmd.Name, args)
	if cmd.Name == "sort" || cmd.Name == "sort_ro" {
		if pats != 0 && strings.Contains(prefix, "*") {
			// Redis substitutes the first '*' of a BY or GET pattern: it would be the
			// prefix's.
			w.WriteReply(resp.Error("ERR", "SORT BY and GET patterns are not supported with a prefix holding '*'"))
			return
		}
	}
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			continue
		}
		size += len(prefix) + len(args[k])
	}
	esc := prefix
	switch cmd.Name {
	case "keys", "scan":
		esc = escapeGlob(prefix)
		if cmd.Name == "scan" && pats == 0 {
			extra = 2
			size += len(esc) + 1
		}
	}
	for i := 1; i < len(args); i++ {
		if i < 64 && pats&(1<<i) != 0 {
			size += len(esc) + len(args[i])
		}
	}

	a := arenaOf(req.Conn())
	n := a.argSlice(len(args) + extra)
	copy(n, args)
	buf := a.byteBuf(size)
	put := func(i int, p string, arg []byte) {
		s := len(buf)
		buf = append(buf, p...)
		buf = append(buf, arg...)
		n[i] = buf[s:len(buf):len(buf)]
	}
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			continue
		}
		put(k, prefix, args[k])
	}
	for i := 1; i < len(args); i++ {
		if i < 64 && pats&(1<<i) != 0 {
			put(i, esc, args[i])
		}
	}
	if extra > 0 {
		n[len(args)] = matchWord
		put(len(args)+1, esc, star)
	}
	req.SetCommand(resp.Command{Args: n})
	if kind := stripOf(cmd.Name); kind != stripNone {
		w = &stripWriter{w: w, prefix: prefix, kind: kind}
	}
	next.ServeRESP(ctx, w, req)
}

var (
	matchWord = []byte("MATCH")
	star      = []byte("*")
)

// maxPatternArgs is the most arguments of a KEYS, SCAN or SORT that patterns looks at.
const maxPatternArgs = 63

// patterns returns, as a bit set of argument indexes, the patterns of KEYS, SCAN MATCH
// and SORT BY/GET that get the prefix. Arguments past index 63 are not looked at: the
// caller refuses such commands.
func patterns(name string, args [][]byte) uint64 {
	var set uint64
	switch name {
	case "keys":
		if len(args) == 2 {
			set |= 1 << 1
		}
	case "scan":
		// As Redis's scanGenericCommand: options in pairs after the cursor.
		for i := 2; i+1 < len(args) && i+1 < 64; i += 2 {
			if bytes.EqualFold(args[i], []byte("match")) {
				set |= 1 << (i + 1)
			}
		}
	case "sort", "sort_ro":
		// As Redis's sortCommandGeneric.
		for i := 2; i < len(args) && i < 63; i++ {
			switch {
			case bytes.EqualFold(args[i], []byte("limit")):
				i += 2
			case bytes.EqualFold(args[i], []byte("store")):
				i++
			case bytes.EqualFold(args[i], []byte("by")) && i+1 < len(args):
				set |= 1 << (i + 1)
				i++
			case bytes.EqualFold(args[i], []byte("get")) && i+1 < len(args):
				if string(args[i+1]) != "#" {
					set |= 1 << (i + 1)
				}
				i++
			}
		}
	}
	return set
}

// escapeGlob escapes the characters that Redis's glob matching (stringmatchlen) treats
// specially, so that a prefix matches only itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
