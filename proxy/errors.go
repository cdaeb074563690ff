package proxy

import "github.com/redchain/redchain/proxy/resp"

// The error replies the proxy itself makes up, whatever its handlers. Their texts are
// stable, and name no server: ERRORS.md at the root of the module lists them with
// those of the router and the backends.

// InternalError is the reply to a command whose handler panicked. Do not modify it.
var InternalError = resp.Error("ERR", "internal error")

var (
	// errReplyTimeout answers a command no reply came for within the reply timeout
	// (WithReplyTimeout); the command may have run.
	errReplyTimeout = resp.Error("ERR", "redchain: reply timeout")
	// errQueryBuffer answers a connection whose unparsed input outgrew the query
	// buffer limit (WithMaxQueryBuffer), which is then closed; as Redis words it.
	errQueryBuffer = resp.Error("ERR", "Protocol error: query buffer limit exceeded")
	// errBackend is ErrorReply's text for a backend error without a ClientText.
	errBackend = resp.Error("ERR", "backend error")
)

// errMaxClients is written to a connection beyond WithMaxClients before it is closed,
// as Redis words it.
var errMaxClients = []byte("-ERR max number of clients reached\r\n")
