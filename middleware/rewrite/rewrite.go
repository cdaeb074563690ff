package rewrite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
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
				w.WriteReply(command.UnknownCommand(req.Args()))
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

func denied(name []byte) resp.Value {
	return resp.Error("ERR", "command '"+string(name)+"' is denied by the proxy")
}

// refused reports whether a namespace refuses cmd, whose subcommand (or cmd itself) is
// sub: a command that reaches keys it does not name (command.ScopeAll: FLUSHALL, SWAPDB,
// scripts, MONITOR...) or an administrative one, unless allowed.
func (r *Rewrite) refused(cmd, sub *command.Info) bool {
	if r.allow[cmd.Name] || r.allow[sub.Name] {
		return false
	}
	return cmd.Scope == command.ScopeAll || sub.Scope == command.ScopeAll ||
		cmd.Flags&command.Admin != 0 || sub.Flags&command.Admin != 0
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
	cmd, ok := command.Lookup(args[0])
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
	special := sub.Patterns != command.PatternNone
	if len(keys) == 0 && !special {
		next.ServeRESP(ctx, w, req)
		return
	}
	if prefix == "" {
		w.WriteReply(noNamespace)
		return
	}
	slices.Sort(keys) // a key two specs name is prefixed once
	var pb [maxStackKeys]int
	pats := sub.PatternArgs(args, pb[:0])

	// Size the new arguments: the keys and patterns that get the prefix.
	extra := 0 // arguments appended (SCAN's MATCH)
	size := 0
	if sub.Patterns == command.PatternSort && len(pats) > 0 && strings.Contains(prefix, "*") {
		// Redis substitutes the first '*' of a BY or GET pattern: it would be the
		// prefix's.
		w.WriteReply(resp.Error("ERR", "SORT BY and GET patterns are not supported with a prefix holding '*'"))
		return
	}
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			continue
		}
		size += len(prefix) + len(args[k])
	}
	esc := prefix
	if sub.Patterns == command.PatternGlob {
		esc = escapeGlob(prefix)
		if sub.ReplyKeys == command.ReplyScan && len(pats) == 0 {
			extra = 2 // SCAN without MATCH gets MATCH <prefix>*
			size += len(esc) + 1
		}
	}
	for _, i := range pats {
		size += len(esc) + len(args[i])
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
	for _, i := range pats {
		put(i, esc, args[i])
	}
	if extra > 0 {
		n[len(args)] = matchWord
		put(len(args)+1, esc, star)
	}
	req.SetCommand(resp.Command{Args: n})
	if sub.ReplyKeys != command.ReplyNoKeys {
		w = &stripWriter{w: w, prefix: prefix, kind: sub.ReplyKeys}
	}
	next.ServeRESP(ctx, w, req)
}

var (
	matchWord = []byte("MATCH")
	star      = []byte("*")
)

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
