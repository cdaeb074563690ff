package router

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// localHandler answers a command of class Local for a session. args is the whole
// command, already checked for arity.
type localHandler func(s *session, args [][]byte) resp.Value

// localHandlers implement the commands of class Local, by name. Every Local command of
// the model has one (a test checks it).
var localHandlers = map[string]localHandler{
	"quit":           func(*session, [][]byte) resp.Value { return resp.OK }, // the proxy answers it first
	"reset":          func(s *session, _ [][]byte) resp.Value { return s.reset() },
	"client|id":      func(s *session, _ [][]byte) resp.Value { return resp.Integer(int64(s.id())) },
	"client|setname": (*session).setName,
	"client|getname": (*session).getName,
	"client|info": func(s *session, args [][]byte) resp.Value {
		return verbatim(s.listLine(commandSize(args))+"\n", s.proto)
	},
	"client|setinfo":  (*session).setInfo,
	"client|no-evict": func(*session, [][]byte) resp.Value { return resp.OK }, // the proxy evicts no client
	"client|reply":    (*session).clientReply,
	"acl|whoami":      (*session).whoAmI,
	"replconf":        replconf,
	"readonly":        noCluster,
	"readwrite":       noCluster,
	"asking":          noCluster,
}

func init() {
	// The proxy presents a standalone server: every CLUSTER subcommand gets what a
	// Redis without cluster support answers.
	if c, ok := command.Lookup([]byte("cluster")); ok {
		for _, s := range c.Subcommands() {
			localHandlers[s.Name] = noCluster
		}
	}
}

// serveLocal serves a command of class Local.
func (s *session) serveLocal(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info) {
	args := req.Args()
	switch {
	case c.Effect == command.EffectProtocol:
		s.hello(ctx, w, req, c)
	case c == clientListCommand:
		s.clientList(w, args)
	case c == clientKillCommand:
		s.clientKill(ctx, w, args)
	case c == clientUnblockCommand:
		s.clientUnblock(ctx, w, args)
	case c == whoAmICommand && s.untracked && s.dc != nil:
		s.route(ctx, w, req, c, command.Dedicated) // logged in on the server: it knows
	default:
		w.WriteReply(s.local(c, args))
	}
}

// adminProbes are, for the commands the proxy answers that Redis's ACL counts as
// administrative, an invocation of each that the server checks the rights of and then
// refuses or answers without acting: so that a client logged in to one of the server's
// users may run them through the proxy only if the server would let that user.
var adminProbes = map[*command.Info]resp.Command{
	clientListCommand:    resp.NewCommand("CLIENT", "LIST", "ID", "0"),
	clientKillCommand:    resp.NewCommand("CLIENT", "KILL", "ID", "0"),
	clientUnblockCommand: resp.NewCommand("CLIENT", "UNBLOCK", "0"),
	noEvictCommand:       resp.NewCommand("CLIENT", "NO-EVICT", "maybe"),
}

var noEvictCommand, _ = command.LookupArgs(resp.NewCommand("CLIENT", "NO-EVICT").Args)

// asUserMay sends probe (see adminProbes) as the client's user, on a connection of its
// own (such commands never share one), and, unless the server answers that the user may
// not run it (NOPERM, which the client then gets), runs then on the session's loop.
func (s *session) asUserMay(ctx context.Context, w proxy.ReplyWriter, probe resp.Command, then func()) {
	sendOnce(s.ded.Dedicate(s.sendCtx(ctx), nil, ignorePush), probe, func(v resp.Value, err error) {
		if d, derr := v.Decode(); err == nil && derr == nil && d.IsError() && bytes.HasPrefix(d.Str, []byte("NOPERM")) {
			w.WriteReply(d)
			return
		}
		s.c.Post(then)
	})
}

// local answers a command of class Local.
func (s *session) local(c *command.Info, args [][]byte) resp.Value {
	if h, ok := localHandlers[c.Name]; ok {
		return h(s, args)
	}
	return resp.Error("ERR", "redchain: "+displayName(c)+" is not supported through the proxy")
}

var errNoCluster = resp.Error("ERR", "This instance has cluster support disabled")

func noCluster(*session, [][]byte) resp.Value { return errNoCluster }

// replconf answers REPLCONF as a server answers a client that is not one of its
// replicas: ACK, FACK and GETACK get no reply at all; the options a replica announces
// before it syncs get +OK.
func replconf(_ *session, args [][]byte) resp.Value {
	if len(args)%2 == 0 {
		return resp.Error("ERR", "syntax error")
	}
	for i := 1; i < len(args); i += 2 {
		switch strings.ToLower(string(args[i])) {
		case "ack", "fack", "getack":
			return resp.NoReply
		case "listening-port", "ip-address", "capa", "rdb-only", "rdb-filter-only", "rdb-channel":
		default:
			return resp.Error("ERR", fmt.Sprintf("Unrecognized REPLCONF option: %s", args[i]))
		}
	}
	return resp.OK
}

// id is the client's ID: the proxy's own, which CLIENT ID and HELLO report.
func (s *session) id() uint64 {
	if s.c == nil {
		return 0
	}
	return s.c.ID()
}

// whoAmI answers ACL WHOAMI: the user an auth middleware logged the client in as, or
// "default".
func (s *session) whoAmI([][]byte) resp.Value {
	if s.c != nil && s.c.User() != "" {
		return resp.BulkString(s.c.User())
	}
	return resp.BulkString("default")
}

// helloArgs are the parts of a HELLO [protover [AUTH user pass] [SETNAME name]].
type helloArgs struct {
	proto      int
	name       string
	user, pass []byte // the last AUTH's, if given
}

// parseHello reads HELLO as Redis does (networking.c helloCommand), from the session's
// protocol and name; refusal is Redis's error for a malformed one.
func (s *session) parseHello(args [][]byte) (h helloArgs, refusal resp.Value) {
	h.proto, h.name = s.proto, s.name
	if len(args) >= 2 {
		v, err := strconv.ParseInt(string(args[1]), 10, 64)
		switch {
		case err != nil:
			return h, resp.Error("ERR", "Protocol version is not an integer or out of range")
		case v != 2 && v != 3:
			return h, resp.Error("NOPROTO", "unsupported protocol version")
		}
		h.proto = int(v)
	}
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "auth" && more >= 2:
			h.user, h.pass = args[i+1], args[i+2]
			i += 2
		case opt == "setname" && more >= 1:
			if !validName(args[i+1]) {
				return h, errBadName
			}
			h.name = string(args[i+1])
			i++
		default:
			return h, resp.Error("ERR", fmt.Sprintf("Syntax error in HELLO option '%s'", args[i]))
		}
	}
	return h, resp.Value{}
}

// hello answers HELLO: the protocol the client speaks from now on, and the server's
// description in it. When the client's dedicated connection holds state, or HELLO logs
// in (AUTH, when no auth middleware took it), HELLO goes to that connection first, which
// then speaks the protocol too; the client's reply waits for the server's.
func (s *session) hello(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, c *command.Info) {
	h, refusal := s.parseHello(req.Args())
	if refusal.Type != 0 {
		w.WriteReply(refusal)
		return
	}
	login := h.user != nil
	if !login && (s.dc == nil || s.clean() || h.proto == s.proto) {
		if h.proto != s.proto && s.dc != nil {
			// A clean dedicated connection speaks the old protocol: let it go.
			if s.dcBusy.Load() == 0 {
				s.giveBack()
			} else {
				s.dc.Close()
				s.setDC(nil)
			}
		}
		s.setProto(h.proto)
		s.name = h.name
		w.WriteReply(helloReply(h.proto, int64(s.id())))
		return
	}
	if s.ded == nil {
		w.WriteReply(noDedicated(c))
		return
	}
	// The server gets HELLO as the client wrote it (MONITOR shows it so; it checks each
	// AUTH in order), but for SETNAME, which is the proxy's.
	args := req.Args()
	cmd := [][]byte{args[0], []byte(strconv.Itoa(h.proto))}
	if len(args) > 1 {
		cmd[1] = args[1]
	}
	for i := 2; i < len(args); i += 2 { // parseHello checked the options
		if bytes.EqualFold(args[i], []byte("auth")) {
			cmd = append(cmd, args[i:i+3]...)
			i++
		}
	}
	if login {
		if s.f.users != nil {
			s.authing++ // see loggedIn
		} else {
			s.untracked = true // logged in as that user for the client's life
		}
	}
	prevProto, prevName := s.proto, s.name
	s.setProto(h.proto)
	s.name = h.name
	id := int64(s.id())
	req.SetCommand(resp.Command{Args: cmd})
	if login {
		w = s.loggingIn(w, string(h.user), h.pass)
	}
	s.route(ctx, proxy.WriterFunc(func(v resp.Value) bool {
		if v.IsError() {
			s.c.Post(func() {
				if s.proto == h.proto && s.name == h.name {
					s.setProto(prevProto)
					s.name = prevName
				}
			})
			return w.WriteReply(v) // WRONGPASS, as the server words it
		}
		return w.WriteReply(helloReply(h.proto, id))
	}), req, c, command.Dedicated)
}

// setProto records the protocol the client speaks, here and on its connection, where
// middleware read it (proxy.Conn.Protocol).
func (s *session) setProto(p int) {
	s.proto = p
	if s.c != nil {
		s.c.SetProtocol(p)
	}
}

// helloReply is the server description HELLO answers with.
func helloReply(proto int, id int64) resp.Value {
	elems := []resp.Value{
		resp.BulkString("server"), resp.BulkString("redis"),
		resp.BulkString("version"), resp.BulkString(serverVersion()),
		resp.BulkString("proto"), resp.Integer(int64(proto)),
		resp.BulkString("id"), resp.Integer(id),
		resp.BulkString("mode"), resp.BulkString("standalone"),
		resp.BulkString("role"), resp.BulkString(serverRole()),
		resp.BulkString("modules"), resp.Array(),
	}
	if proto == 3 {
		return resp.Value{Type: resp.TypeMap, Elems: elems}
	}
	return resp.Array(elems...)
}

// reset leaves every state, as RESET does: the dedicated connection is closed (its
// state with it), and the session is back to RESP2, database 0, no name, and the
// proxy's own user on the server.
func (s *session) reset() resp.Value {
	if s.dc != nil {
		s.dc.Close()
		s.setDC(nil)
	}
	s.logout()
	s.authing = 0
	s.epoch++ // logins still to be answered are forgotten
	if s.viaServer {
		s.c.SetUser("") // back to the default user, as RESET does
		s.viaServer = false
	}
	s.setProto(2)
	s.multi, s.watch, s.db, s.name, s.onDC = false, false, 0, "", false
	s.untracked, s.tx, s.txLen = false, nil, 0
	s.mute, s.tracking = muteNone, false
	s.redirect.Store(0)
	return resp.SimpleString("RESET")
}

var errBadName = resp.Error("ERR", "Client names cannot contain spaces, newlines or special characters.")

// validName reports whether name may be a client name: Redis refuses spaces, newlines
// and the characters outside '!'..'~'.
func validName(name []byte) bool {
	for _, c := range name {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

func (s *session) setName(args [][]byte) resp.Value {
	if !validName(args[2]) {
		return errBadName
	}
	s.name = string(args[2])
	return resp.OK
}

func (s *session) getName([][]byte) resp.Value {
	if s.name == "" {
		return s.null()
	}
	return resp.BulkString(s.name)
}

func (s *session) setInfo(args [][]byte) resp.Value {
	switch {
	case bytes.EqualFold(args[2], []byte("lib-name")):
		if bytes.ContainsAny(args[3], " \n") {
			return resp.Error("ERR", "lib-name cannot contain spaces, newlines or special characters.")
		}
		s.lib[0] = string(args[3])
	case bytes.EqualFold(args[2], []byte("lib-ver")):
		if bytes.ContainsAny(args[3], " \n") {
			return resp.Error("ERR", "lib-ver cannot contain spaces, newlines or special characters.")
		}
		s.lib[1] = string(args[3])
	default:
		return resp.Error("ERR", fmt.Sprintf("Unrecognized option '%s'", args[2]))
	}
	return resp.OK
}
