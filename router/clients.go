package router

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/backend"
	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// The CLIENT commands that name other clients (LIST, KILL, UNBLOCK, TRACKING REDIRECT)
// speak of the proxy's clients, by the IDs the proxy gave them (CLIENT ID), never of
// the proxy's connections to the server. A Forward keeps its sessions by ID for them.
// What a session knows of itself is loop-only: a command about other clients asks each
// on its own loop (Conn.Post) and gathers the answers.

// clients is a Forward's sessions, by proxy client ID.
type clients struct {
	m sync.Map // uint64 -> *session
}

func (cs *clients) add(s *session)    { cs.m.Store(s.c.ID(), s) }
func (cs *clients) remove(s *session) { cs.m.Delete(s.c.ID()) }

func (cs *clients) get(id uint64) (*session, bool) {
	v, ok := cs.m.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*session), true
}

// all returns the sessions, by ID.
func (cs *clients) all() []*session {
	var out []*session
	cs.m.Range(func(_, v any) bool {
		out = append(out, v.(*session))
		return true
	})
	slices.SortFunc(out, func(a, b *session) int { return int(a.c.ID() - b.c.ID()) })
	return out
}

// dcRef holds a session's dedicated connection, for other goroutines to see.
type dcRef struct{ dc backend.Dedicated }

// setDC changes the session's dedicated connection.
func (s *session) setDC(dc backend.Dedicated) {
	s.dc = dc
	if dc == nil {
		s.dcPub.Store(nil)
		s.dropOwn()
	} else {
		s.dcPub.Store(&dcRef{dc})
	}
}

// serverID returns the ID on the server of the session's dedicated connection, or 0
// when it has none (or it is still dialled). Safe from any goroutine.
func (s *session) serverID() int64 {
	r := s.dcPub.Load()
	if r == nil {
		return 0
	}
	if id, ok := r.dc.(interface{ ServerID() int64 }); ok {
		return id.ServerID()
	}
	return 0
}

// unblocker returns the session's dedicated connection when it unblocks by itself
// (backend.Unblocker: one over several servers). Safe from any goroutine.
func (s *session) unblocker() (backend.Unblocker, bool) {
	if r := s.dcPub.Load(); r != nil {
		u, ok := r.dc.(backend.Unblocker)
		return u, ok
	}
	return nil, false
}

// gather asks every session, on its own loop, for what ask returns, and calls done
// with the answers of those that still run, by ID. done runs on one of the loops.
func (f *Forward) gather(ask func(*session) string, done func([]string)) {
	all := f.clients.all()
	if len(all) == 0 {
		done(nil)
		return
	}
	out := make([]string, len(all))
	var left atomic.Int64
	left.Store(int64(len(all)))
	for i, s := range all {
		s.c.Post(func() {
			if !s.c.Closed() {
				out[i] = ask(s)
			}
			if left.Add(-1) == 0 {
				done(out)
			}
		})
	}
}

// muted returns w for a command of c: one that drops the reply while CLIENT REPLY is
// OFF, or for the command after CLIENT REPLY SKIP.
// c is nil for a command the model refused or does not know. Subscription
// confirmations are pushed, as messages are: Redis sends them whatever CLIENT REPLY
// says. CLIENT REPLY's own success is answered in the mode it sets; its error, in the
// mode it leaves as it was.
func (s *session) muted(w proxy.ReplyWriter, c *command.Info) proxy.ReplyWriter {
	if s.mute == muteNone {
		return w
	}
	if s.mute == muteSkip {
		s.mute = muteNone
	}
	switch {
	case c == nil:
	case c.Effect == command.EffectSubscribe || c.Effect == command.EffectUnsubscribe:
		return w
	case c == replyCommand:
		return proxy.WriterFunc(func(v resp.Value) bool {
			if v.IsError() {
				v = resp.NoReply
			}
			return w.WriteReply(v)
		})
	}
	return proxy.WriterFunc(func(resp.Value) bool { return w.WriteReply(resp.NoReply) })
}

// The modes of CLIENT REPLY.
const (
	muteNone = iota // ON
	muteOff         // OFF: no reply at all
	muteSkip        // SKIP: none for the next command
)

var replyCommand, _ = command.LookupArgs(resp.NewCommand("CLIENT", "REPLY").Args)

// clientReply answers CLIENT REPLY ON|OFF|SKIP: the proxy drops the replies itself, as
// they are about its connection to the client.
func (s *session) clientReply(args [][]byte) resp.Value {
	switch strings.ToLower(string(args[2])) {
	case "on":
		s.mute = muteNone
		return resp.OK
	case "off":
		s.mute = muteOff
		return resp.NoReply
	case "skip":
		if s.mute != muteOff {
			s.mute = muteSkip
		}
		return resp.NoReply
	}
	return resp.Error("ERR", "syntax error")
}

// listLine describes the session as a line of CLIENT LIST or CLIENT INFO, in the fields
// of the Redis the proxy presents; qbuf is the size of the command the client is
// running, for the client that asks (Redis counts it in its query buffer). Loop-only.
func (s *session) listLine(qbuf int) string {
	flags := ""
	subs := 0
	if s.dc != nil {
		subs = s.dc.Subscriptions()
	}
	if s.multi {
		flags += "x"
	}
	if subs > 0 {
		flags += "P"
	}
	switch {
	case s.tunnel != nil && s.replica:
		flags += "S"
	case s.tunnel != nil:
		flags += "O"
	}
	if s.blocked() {
		flags += "b"
	}
	if s.tracking {
		flags += "t"
	}
	if flags == "" {
		flags = "N"
	}
	multi := -1
	if s.multi {
		multi = s.txLen
	}
	cmd := "NULL"
	if s.last != nil {
		cmd = s.last.Name
	}
	var id uint64
	var addr, laddr any = "", ""
	age, idle, user := 0, 0, "default"
	if c := s.c; c != nil { // nil for a request of a connection with no session (proxy.NewRequest's)
		id, addr, laddr = c.ID(), c.RemoteAddr(), c.LocalAddr()
		age, idle = int(time.Since(c.Opened()).Seconds()), int(c.Idle().Seconds())
		if u := c.User(); u != "" {
			user = u
		}
	}
	redir := int64(-1)
	if s.tracking {
		redir = int64(s.redirect.Load())
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=-1 name=%s age=%d idle=%d flags=%s db=%d sub=%d psub=0 ssub=0 multi=%d qbuf=%d qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=%s redir=%d resp=%d lib-name=%s lib-ver=%s",
		id, addr, laddr, s.name, age, idle, flags, s.db, subs, multi, qbuf, cmd, user, redir, s.proto, s.lib[0], s.lib[1])
}

// commandSize is the size of args in RESP.
func commandSize(args [][]byte) int {
	n := 3 + len(strconv.Itoa(len(args)))
	for _, a := range args {
		n += 5 + len(strconv.Itoa(len(a))) + len(a)
	}
	return n
}

// clientType is the session's type for CLIENT LIST and KILL TYPE, as Redis's
// getClientType: "replica" for a replication stream (SYNC, PSYNC), "pubsub" for a
// subscriber, "normal" else (a MONITOR too).
func (s *session) clientType() string {
	switch {
	case s.tunnel != nil && s.replica:
		return "replica"
	case s.dc != nil && s.dc.Subscriptions() > 0:
		return "pubsub"
	}
	return "normal"
}

// blocked reports whether the session waits for a blocking command's reply.
func (s *session) blocked() bool {
	return s.dc != nil && s.dcBusy.Load() > 0 && s.last != nil && s.last.Effect == command.EffectBlock
}

// clientList answers CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id...]: the
// proxy's clients.
func (s *session) clientList(w proxy.ReplyWriter, args [][]byte) {
	typ := ""
	var ids map[uint64]bool
	for i := 2; i < len(args); i++ {
		switch {
		case bytes.EqualFold(args[i], []byte("type")) && i+1 < len(args):
			typ = strings.ToLower(string(args[i+1]))
			switch typ {
			case "normal", "master", "replica", "slave", "pubsub":
			default:
				w.WriteReply(resp.Error("ERR", "Unknown client type '"+string(args[i+1])+"'"))
				return
			}
			i++
		case bytes.EqualFold(args[i], []byte("id")) && i+1 < len(args):
			ids = map[uint64]bool{}
			for _, a := range args[i+1:] {
				id, err := strconv.ParseUint(string(a), 10, 64)
				if err != nil || id == 0 {
					w.WriteReply(resp.Error("ERR", "Invalid client ID"))
					return
				}
				ids[id] = true
			}
			i = len(args)
		default:
			w.WriteReply(resp.Error("ERR", "syntax error"))
			return
		}
	}
	if typ == "slave" {
		typ = "replica"
	}
	qbuf := commandSize(args)
	s.f.gather(func(o *session) string {
		if ids != nil && !ids[o.c.ID()] || typ != "" && o.clientType() != typ {
			return ""
		}
		if o == s {
			return o.listLine(qbuf)
		}
		return o.listLine(0)
	}, func(lines []string) {
		var b strings.Builder
		for _, l := range lines {
			if l != "" {
				b.WriteString(l)
				b.WriteByte('\n')
			}
		}
		w.WriteReply(verbatim(b.String(), s.proto))
	})
}

// killFilter is what CLIENT KILL kills.
type killFilter struct {
	id          uint64
	addr, laddr string
	user        string
	typ         string
	maxAge      int64
	skipMe      bool
	old         bool // CLIENT KILL addr:port, answered OK or an error
}

// match reports whether o is to be killed. Loop-only, on o's loop.
func (k *killFilter) match(o *session, self uint64) bool {
	switch {
	case k.skipMe && o.c.ID() == self,
		k.id != 0 && o.c.ID() != k.id,
		k.addr != "" && o.c.RemoteAddr().String() != k.addr,
		k.laddr != "" && o.c.LocalAddr().String() != k.laddr,
		k.user != "" && o.c.User() != k.user && !(k.user == "default" && o.c.User() == ""),
		k.maxAge != 0 && int64(time.Since(o.c.Opened()).Seconds()) < k.maxAge:
		return false
	}
	switch k.typ {
	case "":
		return true
	case "slave":
		return o.clientType() == "replica"
	}
	return o.clientType() == k.typ
}

// clientKill answers CLIENT KILL addr:port, and CLIENT KILL with filters (ID, TYPE,
// USER, ADDR, LADDR, SKIPME, MAXAGE): of the proxy's clients. A client that kills
// itself gets the reply, then is closed.
func (s *session) clientKill(ctx context.Context, w proxy.ReplyWriter, args [][]byte) {
	k, refusal := parseKill(args)
	if k.user == "" {
		if refusal.Type != 0 {
			w.WriteReply(refusal)
		} else {
			s.kill(w, k)
		}
		return
	}
	// A user the server's ACL does not have is an error, as in Redis: ask it.
	s.b.Send(s.sendCtx(ctx), resp.NewCommand("ACL", "GETUSER", k.user), func(v resp.Value, err error) {
		switch d, derr := v.Decode(); {
		case err == nil && derr == nil && d.IsNull():
			w.WriteReply(resp.Error("ERR", "No such user '"+k.user+"'"))
		case refusal.Type != 0:
			w.WriteReply(refusal)
		default:
			s.kill(w, k)
		}
	})
}

// parseKill reads CLIENT KILL's arguments as Redis does, option after option; refusal
// is the error of the first that is wrong (the options before it are in k, as Redis has
// checked them by then).
func parseKill(args [][]byte) (k killFilter, refusal resp.Value) {
	k.skipMe = true
	if len(args) == 3 {
		k.addr, k.skipMe, k.old = string(args[2]), false, true
		return k, refusal
	}
	syntax := resp.Error("ERR", "syntax error")
	for i := 2; i < len(args); i += 2 {
		if i+1 == len(args) {
			return k, syntax
		}
		v := string(args[i+1])
		switch strings.ToLower(string(args[i])) {
		case "id":
			id, err := strconv.ParseUint(v, 10, 64)
			if err != nil || id == 0 {
				return k, resp.Error("ERR", "client-id should be greater than 0")
			}
			k.id = id
		case "type":
			k.typ = strings.ToLower(v)
			switch k.typ {
			case "normal", "master", "replica", "slave", "pubsub":
			default:
				return k, resp.Error("ERR", "Unknown client type '"+v+"'")
			}
		case "addr":
			k.addr = v
		case "laddr":
			k.laddr = v
		case "user":
			k.user = v
		case "skipme":
			switch strings.ToLower(v) {
			case "yes":
				k.skipMe = true
			case "no":
				k.skipMe = false
			default:
				return k, syntax
			}
		case "maxage":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return k, syntax
			}
			k.maxAge = n
		default:
			return k, syntax
		}
	}
	return k, refusal
}

// kill ends the proxy's clients that k matches, and answers how many (or, for the
// old form, OK or an error).
func (s *session) kill(w proxy.ReplyWriter, k killFilter) {
	self := s.c.ID()
	s.f.gather(func(o *session) string {
		if !k.match(o, self) {
			return ""
		}
		if o == s {
			o.c.CloseAfterReplies()
		} else {
			_ = o.c.Close()
		}
		return "1"
	}, func(killed []string) {
		n := 0
		for _, x := range killed {
			if x != "" {
				n++
			}
		}
		switch {
		case k.old && n == 0:
			w.WriteReply(resp.Error("ERR", "No such client"))
		case k.old:
			w.WriteReply(resp.OK)
		default:
			w.WriteReply(resp.Integer(int64(n)))
		}
	})
}

// clientUnblock answers CLIENT UNBLOCK id [TIMEOUT|ERROR]: the proxy's client id, if it
// waits for a blocking command, is unblocked on the server, by its dedicated
// connection's ID there, on a connection of its own.
func (s *session) clientUnblock(ctx context.Context, w proxy.ReplyWriter, args [][]byte) {
	id, err := strconv.ParseUint(string(args[2]), 10, 64)
	if err != nil {
		w.WriteReply(resp.Error("ERR", "value is not an integer or out of range"))
		return
	}
	mode := "TIMEOUT"
	if len(args) == 4 {
		switch {
		case bytes.EqualFold(args[3], []byte("timeout")):
		case bytes.EqualFold(args[3], []byte("error")):
			mode = "ERROR"
		default:
			w.WriteReply(resp.Error("ERR", "CLIENT UNBLOCK reason should be TIMEOUT or ERROR"))
			return
		}
	} else if len(args) > 4 {
		w.WriteReply(resp.Error("ERR", "syntax error"))
		return
	}
	o, ok := s.f.clients.get(id)
	if !ok || s.ded == nil {
		w.WriteReply(resp.Integer(0))
		return
	}
	ctx = s.sendCtx(ctx)
	o.c.Post(func() {
		if u, ok := o.unblocker(); ok && o.blocked() {
			u.Unblock(mode, proxy.Callback(w))
			return
		}
		sid := o.serverID()
		if !o.blocked() || sid == 0 {
			w.WriteReply(resp.Integer(0))
			return
		}
		sendOnce(s.ded.Dedicate(ctx, nil, ignorePush), resp.NewCommand("CLIENT", "UNBLOCK", strconv.FormatInt(sid, 10), mode), proxy.Callback(w))
	})
}

// trackingArgs returns CLIENT TRACKING's arguments with its REDIRECT, a proxy client
// ID, replaced by the ID on the server of that client's dedicated connection, where
// invalidation messages must go; refusal is Redis's error when there is no such
// client there. On a sharded backend the proxy's ID stays: the client's connection to
// each server is told the redirection's connection to that server.
func (s *session) trackingArgs(args [][]byte) (out [][]byte, redirect uint64, refusal resp.Value) {
	for i := 3; i+1 < len(args); i++ {
		if !bytes.EqualFold(args[i], []byte("redirect")) {
			continue
		}
		id, err := strconv.ParseUint(string(args[i+1]), 10, 64)
		if err != nil {
			return nil, 0, resp.Error("ERR", "value is not an integer or out of range")
		}
		o, ok := s.f.clients.get(id)
		if ok && o.dcPub.Load() == nil {
			// A client without a server connection of its own: refused, but see
			// connless, which gives it one.
			return nil, id, resp.Error("ERR", "The client ID you want redirect to does not exist")
		}
		if _, sharded := s.b.(backend.Sharded); sharded && ok {
			// One connection per server: each is told the ID of the redirection's
			// connection to its server (backend.PerShardConfig.Redirects).
			return args, id, resp.Value{}
		}
		var sid int64
		if ok {
			sid = o.serverID()
		}
		if sid == 0 {
			return nil, 0, resp.Error("ERR", "The client ID you want redirect to does not exist")
		}
		out = slices.Clone(args)
		out[i+1] = strconv.AppendInt(nil, sid, 10)
		return out, id, resp.Value{}
	}
	return args, 0, resp.Value{}
}

// connless returns the client a CLIENT TRACKING ... REDIRECT names (the proxy's ID
// redirect) when trackingArgs refused it because that client has no server connection of
// its own, which Redis never lacks, and the command has not waited for one yet; else nil.
func (s *session) connless(refusal resp.Value, redirect uint64) *session {
	if refusal.Type == 0 || redirect == 0 || s.redirectWait {
		return nil
	}
	if o, ok := s.f.clients.get(redirect); ok && o.dcPub.Load() == nil {
		return o
	}
	return nil
}

// whenRedirectable gives o, a client that another one's invalidations are to be
// redirected to, a server connection of its own, kept for its life (o's loop does it),
// and then serves req again on the session's loop. The session is held meanwhile. (A
// function of its own: a closure in serve over its w would move w to the heap for
// every command.)
func (s *session) whenRedirectable(o *session, ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	release := s.c.Hold()
	back := func() {
		s.c.Post(func() {
			if !s.c.Closed() {
				proxy.Serve(ctx, proxy.HandlerFunc(s.serve), w, req)
			}
			release()
		})
	}
	o.c.Post(func() {
		if o.c.Closed() || o.ded == nil || o.parked != nil || o.base == nil {
			back()
			return
		}
		o.untracked = true // its connection is what the redirection names, from now on
		if o.dc != nil {
			// It got one meanwhile, and may be in a transaction: nothing is sent on it
			// that its client did not send.
			back()
			return
		}
		o.setDC(o.ded.Dedicate(o.sendCtx(o.base), nil, o.push))
		if all, ok := o.dc.(backend.ServerIDs); ok {
			all.OpenAll()
		}
		// Answered once the connection is up, and its ID known.
		o.sendDC(resp.NewCommand("PING"), 0, nil, func(resp.Value, error) { back() })
	})
}

// redirectTarget returns the dedicated connection of the client whose ID is id, or nil
// (backend.WithRedirects). Safe from any goroutine.
func (f *Forward) redirectTarget(id int64) backend.Dedicated {
	if o, ok := f.clients.get(uint64(id)); ok {
		if r := o.dcPub.Load(); r != nil {
			return r.dc
		}
	}
	return nil
}

// serverIDsToProxy returns w for CLIENT GETREDIR or CLIENT TRACKINGINFO: the server's
// client ID of the redirection in the reply becomes the proxy's.
func (s *session) serverIDsToProxy(w proxy.ReplyWriter) proxy.ReplyWriter {
	// The session knows whom it redirects to, also once that client is gone.
	redirect := int64(s.redirect.Load())
	return proxy.WriterFunc(func(v resp.Value) bool {
		d, err := v.Decode()
		if err != nil || d.IsError() {
			return w.WriteReply(v)
		}
		switch d.Type {
		case resp.TypeInteger:
			if d.Int > 0 {
				d.Int = redirect
			}
			return w.WriteReply(d)
		case resp.TypeArray, resp.TypeMap:
			for i := 0; i+1 < len(d.Elems); i += 2 {
				if string(d.Elems[i].Str) == "redirect" && d.Elems[i+1].Type == resp.TypeInteger && d.Elems[i+1].Int > 0 {
					d.Elems[i+1].Int = redirect
				}
			}
			return w.WriteReply(d)
		}
		return w.WriteReply(v)
	})
}

// loggingIn returns w for AUTH or HELLO AUTH of user with password, passed to the
// server; see loggedIn.
func (s *session) loggingIn(w proxy.ReplyWriter, user string, password []byte) proxy.ReplyWriter {
	epoch, pass := s.epoch, string(password) // args are borrowed
	return proxy.WriterFunc(func(v resp.Value) bool {
		ok := !v.IsError()
		s.c.Post(func() { s.loggedIn(epoch, user, pass, ok) })
		return w.WriteReply(v)
	})
}

// loggedIn follows a login the server answered (ok: it accepted it): the connection's
// user is user from then on (proxy.Conn.User), as an auth middleware would set it.
// With backend.Users the client's commands then go to the backend of that user, whose
// connections are logged in as it and shared by its clients; the connection the login
// went on is closed once its replies are in (the backend never lends it again).
// Without, that connection stays the client's for its life.
func (s *session) loggedIn(epoch int, user, password string, ok bool) {
	if epoch != s.epoch || s.c.Closed() {
		return // RESET since, or gone
	}
	if s.f.users != nil {
		s.authing--
	}
	if !ok {
		return // a failed login leaves the user as it was, as in Redis
	}
	s.c.SetUser(user)
	s.viaServer = true
	if s.f.users == nil {
		return
	}
	b, release := s.f.users.AsUser(user, password)
	s.logout()
	s.backends, s.release = backendsOf(b), release
}

// logout gives back the share of the backend of the user the session logged in as, if
// it has one: its commands go to the Forward's backend again.
func (s *session) logout() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
	s.backends = s.f.backends
}

// verbatim is text as Redis replies it: a verbatim string ("txt") in RESP3, a bulk
// string in RESP2.
func verbatim(text string, proto int) resp.Value {
	if proto == 3 {
		return resp.Value{Type: resp.TypeVerbatimString, Str: []byte("txt:" + text)}
	}
	return resp.BulkString(text)
}

// The CLIENT subcommands the router treats apart.
var (
	trackingCommand, _      = command.LookupArgs(resp.NewCommand("CLIENT", "TRACKING").Args)
	getredirCommand, _      = command.LookupArgs(resp.NewCommand("CLIENT", "GETREDIR").Args)
	authCommand, _          = command.LookupArgs(resp.NewCommand("AUTH").Args)
	whoAmICommand, _        = command.LookupArgs(resp.NewCommand("ACL", "WHOAMI").Args)
	clientListCommand, _    = command.LookupArgs(resp.NewCommand("CLIENT", "LIST").Args)
	clientKillCommand, _    = command.LookupArgs(resp.NewCommand("CLIENT", "KILL").Args)
	clientUnblockCommand, _ = command.LookupArgs(resp.NewCommand("CLIENT", "UNBLOCK").Args)
	trackingInfoCommand, _  = command.LookupArgs(resp.NewCommand("CLIENT", "TRACKINGINFO").Args)
	infoCommand, _          = command.LookupArgs(resp.NewCommand("INFO").Args)
	configSetCommand, _     = command.LookupArgs(resp.NewCommand("CONFIG", "SET").Args)
	discardCommand, _       = command.LookupArgs(resp.NewCommand("DISCARD").Args)
)

// standaloneInfo presents the INFO reply of one server of a sharded backend as that of
// a standalone Redis (command.MergeInfo of one part): where the fan-out does not merge
// every shard's (it is off, or the client holds state on a dedicated connection), a
// client still never reads "redis_mode:cluster".
func standaloneInfo(w proxy.ReplyWriter) proxy.ReplyWriter {
	return proxy.WriterFunc(func(v resp.Value) bool {
		return w.WriteReply(command.MergeInfo([]resp.Value{v}))
	})
}
