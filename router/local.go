package router

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// localHandler answers a command of class Local for a session. args is the whole
// command, already checked for arity.
type localHandler func(s *session, args [][]byte) resp.Value

// localHandlers implement the commands of class Local, by name. Every Local command of
// the model has one (a test checks it).
var localHandlers = map[string]localHandler{
	"hello":           (*session).hello,
	"quit":            func(*session, [][]byte) resp.Value { return resp.OK }, // the proxy answers it first
	"reset":           func(s *session, _ [][]byte) resp.Value { return s.reset() },
	"client|id":       func(s *session, _ [][]byte) resp.Value { return resp.Integer(int64(s.id())) },
	"client|setname":  (*session).setName,
	"client|getname":  (*session).getName,
	"client|info":     func(s *session, _ [][]byte) resp.Value { return resp.BulkString(s.info()) },
	"client|setinfo":  (*session).setInfo,
	"client|no-evict": func(*session, [][]byte) resp.Value { return resp.OK }, // the proxy evicts no client
	"client|reply":    notYet,
	"client|list":     notYet,
	"client|kill":     notYet,
	"client|unblock":  notYet,
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

// local answers a command of class Local.
func (s *session) local(c *command.Info, args [][]byte) resp.Value {
	if h, ok := localHandlers[c.Name]; ok {
		return h(s, args)
	}
	return resp.Error("ERR", "redchain: "+displayName(c)+" is not supported through the proxy")
}

var errNoCluster = resp.Error("ERR", "This instance has cluster support disabled")

func noCluster(*session, [][]byte) resp.Value { return errNoCluster }

// notYet answers a CLIENT subcommand the proxy does not implement for its own clients
// yet; sending it to the server would act on the proxy's connections, not the client's.
func notYet(_ *session, args [][]byte) resp.Value {
	return resp.Error("ERR", "redchain: CLIENT "+strings.ToUpper(string(args[1]))+" is not supported through the proxy yet")
}

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

// hello answers HELLO [protover [AUTH user pass] [SETNAME name]]: the protocol the
// client speaks from now on, and the server's description in it. AUTH is for an auth
// middleware, which passes HELLO on without it.
func (s *session) hello(args [][]byte) resp.Value {
	proto := s.proto
	if len(args) >= 2 {
		v, err := strconv.ParseInt(string(args[1]), 10, 64)
		switch {
		case err != nil:
			return resp.Error("ERR", "Protocol version is not an integer or out of range")
		case v != 2 && v != 3:
			return resp.Error("NOPROTO", "unsupported protocol version")
		}
		proto = int(v)
	}
	name := s.name
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "setname" && more >= 1:
			if !validName(args[i+1]) {
				return errBadName
			}
			name = string(args[i+1])
			i++
		case opt == "auth" && more >= 2:
			return resp.Error("ERR", "redchain: HELLO AUTH needs an auth middleware in the proxy's chain")
		default:
			return resp.Error("ERR", fmt.Sprintf("Syntax error in HELLO option '%s'", args[i]))
		}
	}
	if proto != s.proto && s.dc != nil {
		if !s.clean() {
			return resp.Error("ERR", "redchain: HELLO cannot change the protocol inside a transaction, a subscription or a database other than 0")
		}
		if s.dcBusy.Load() == 0 {
			s.giveBack()
		} else {
			s.dc.Close()
			s.dc = nil
		}
	}
	s.proto, s.name = proto, name
	return helloReply(proto, int64(s.id()))
}

// helloReply is the server description HELLO answers with.
func helloReply(proto int, id int64) resp.Value {
	elems := []resp.Value{
		resp.BulkString("server"), resp.BulkString("redis"),
		resp.BulkString("version"), resp.BulkString("7.0.0"),
		resp.BulkString("proto"), resp.Integer(int64(proto)),
		resp.BulkString("id"), resp.Integer(id),
		resp.BulkString("mode"), resp.BulkString("standalone"),
		resp.BulkString("role"), resp.BulkString("master"),
		resp.BulkString("modules"), resp.Array(),
	}
	if proto == 3 {
		return resp.Value{Type: resp.TypeMap, Elems: elems}
	}
	return resp.Array(elems...)
}

// reset leaves every state, as RESET does: the dedicated connection is closed (its
// state with it), and the session is back to RESP2, database 0, no name.
func (s *session) reset() resp.Value {
	if s.dc != nil {
		s.dc.Close()
		s.dc = nil
	}
	s.multi, s.watch, s.db, s.proto, s.name, s.onDC = false, false, 0, 2, "", false
	s.untracked, s.tx, s.txLen = false, nil, 0
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

// info describes the client as CLIENT INFO does.
func (s *session) info() string {
	subs := 0
	if s.dc != nil {
		subs = s.dc.Subscriptions()
	}
	multi := -1
	if s.multi {
		multi = s.txLen
	}
	var addr any = ""
	if s.c != nil {
		addr = s.c.RemoteAddr()
	}
	return fmt.Sprintf("id=%d addr=%s name=%s db=%d sub=%d multi=%d resp=%d lib-name=%s lib-ver=%s\n",
		s.id(), addr, s.name, s.db, subs, multi, s.proto, s.lib[0], s.lib[1])
}
