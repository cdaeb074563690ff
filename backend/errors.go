package backend

// Errors a backend reports to done. Implementations wrap them with the server involved
// and the cause, for their logs (errors.Is works); a client is told only the error's
// own text, the same for every server (its ClientText method, which proxy.ErrorReply
// uses): "-ERR backend unavailable", never an address. ERRORS.md at the root of the
// module lists every error reply the proxy makes up.
var (
	// ErrClosed: the backend was closed. The command was not sent.
	ErrClosed error = clientError("backend closed")
	// ErrUnavailable: no connection to the server is up (it is down, refuses the
	// connection or its login, or may not be dialled, such as a cluster node outside
	// the allow-list); the backend keeps trying. The command was not sent.
	ErrUnavailable error = clientError("backend unavailable")
	// ErrTimeout: the server did not answer within the command timeout. The command may
	// or may not have run, and may still run.
	ErrTimeout error = clientError("backend timeout")
	// ErrConnLost: the connection broke after the command was sent; it may or may not
	// have been executed.
	ErrConnLost error = clientError("backend connection lost")
	// ErrBusy: too many commands are waiting for replies on the connection. The command
	// was not sent.
	ErrBusy error = clientError("backend busy")
)

// clientError is an error of the backend's whose text a client may be told.
type clientError string

func (e clientError) Error() string { return string(e) }

// ClientText returns the error's text, the same for every server.
func (e clientError) ClientText() string { return string(e) }
