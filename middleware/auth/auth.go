package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/resp"
)

// DefaultTimeout is how long an Authenticator check may take when Config.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// DefaultUser is the user that AUTH with a password only authenticates as, as in Redis.
const DefaultUser = "default"

// defaultUser is DefaultUser, as the bytes a client would send. Read-only.
var defaultUser = []byte(DefaultUser)

// hashPrefix marks a password given as the hex SHA-256 of the plaintext.
const hashPrefix = "sha256:"

// Config configures an Auth. At least one of Users and Authenticator must be set.
type Config struct {
	// Users are the static users. A user listed here is decided here: the Authenticator
	// is only asked about names that are not.
	Users []User
	// Authenticator, when set, checks the names that are not in Users.
	Authenticator Authenticator
	// Timeout bounds an Authenticator check (default DefaultTimeout). When it expires
	// the client gets "-ERR authentication timed out" and a late answer is ignored.
	// Keep it below the server's reply timeout (proxy.WithReplyTimeout).
	Timeout time.Duration
}

// User is one static user.
type User struct {
	// Name is what the client sends as the username; "default" for AUTH password.
	Name string
	// Password is the plaintext, or "sha256:" followed by the 64 hex digits of the
	// plaintext's SHA-256, so that a configuration file need not hold the plaintext.
	Password string
}

// Authenticator checks a username and password somewhere else: a directory, an HTTP
// service, a database.
//
// Authenticate must not block: it returns at once, and calls done exactly once, later,
// from any goroutine, with ok reporting whether the pair is valid, or with a non-nil err
// when it could not tell (the client then gets "-ERR authentication service
// unavailable"; err itself is not shown to it). ctx is canceled when the client's
// connection closes or the check times out: the answer is no longer wanted then, and a
// done that comes later is ignored. Authenticate is called from many event loops at once.
type Authenticator interface {
	Authenticate(ctx context.Context, user, password string, done func(ok bool, err error))
}

// AuthenticatorFunc adapts a function to the Authenticator interface.
type AuthenticatorFunc func(ctx context.Context, user, password string, done func(ok bool, err error))

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, user, password string, done func(ok bool, err error)) {
	f(ctx, user, password, done)
}

// Auth is the authentication middleware. Make one with New; it serves any number of
// connections and chains at once.
type Auth struct {
	users   map[string]*user
	authn   Authenticator
	timeout time.Duration
	authed  proxy.ConnKey[bool] // loop-only, per connection: AUTH has succeeded once
	dummy   [sha256.Size]byte   // compared against for unknown names, to take the same time
}

type user struct {
	name string
	hash [sha256.Size]byte
}

// New validates cfg and returns an Auth.
func New(cfg Config) (*Auth, error) {
	if len(cfg.Users) == 0 && cfg.Authenticator == nil {
		return nil, errors.New("auth: no Users and no Authenticator: nobody could authenticate")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("auth: negative Timeout %v", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	a := &Auth{
		users:   make(map[string]*user, len(cfg.Users)),
		authn:   cfg.Authenticator,
		timeout: cfg.Timeout,
		authed:  proxy.NewConnKey[bool](),
		dummy:   sha256.Sum256([]byte("redchain/auth: no such user")),
	}
	for i, u := range cfg.Users {
		if u.Name == "" {
			return nil, fmt.Errorf("auth: user %d has no name", i)
		}
		if _, dup := a.users[u.Name]; dup {
			return nil, fmt.Errorf("auth: user %q is listed twice", u.Name)
		}
		h, err := parsePassword(u.Password)
		if err != nil {
			return nil, fmt.Errorf("auth: user %q: %w", u.Name, err)
		}
		a.users[u.Name] = &user{name: u.Name, hash: h}
	}
	return a, nil
}

// parsePassword returns the SHA-256 of a plaintext password, or the one given as
// "sha256:<hex>".
func parsePassword(p string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	if p == "" {
		return h, errors.New("empty password")
	}
	if hexed, ok := strings.CutPrefix(p, hashPrefix); ok {
		b, err := hex.DecodeString(hexed)
		if err != nil || len(b) != sha256.Size {
			return h, fmt.Errorf("password %q...: want %s and %d hex digits", hashPrefix, hashPrefix, 2*sha256.Size)
		}
		copy(h[:], b)
		return h, nil
	}
	return sha256.Sum256([]byte(p)), nil
}

// Replies, as Redis words them.
var (
	errNoAuth      = resp.Error("NOAUTH", "Authentication required.")
	errWrongPass   = resp.Error("WRONGPASS", "invalid username-password pair or user is disabled.")
	errArity       = resp.Error("ERR", "wrong number of arguments for 'auth' command")
	errSyntax      = resp.Error("ERR", "syntax error")
	errProtoNumber = resp.Error("ERR", "Protocol version is not an integer or out of range")
	errNoProto     = resp.Error("NOPROTO", "unsupported protocol version")
	errUnavailable = resp.Error("ERR", "authentication service unavailable")
	errTimedOut    = resp.Error("ERR", "authentication timed out")
)

// ServeRESP answers AUTH, authenticates HELLO ... AUTH and passes the rest of it on,
// refuses every other command of an unauthenticated connection with -NOAUTH but QUIT
// and RESET (which logs the client out), and passes the commands of an authenticated
// one on. Loop-only, like every ServeRESP.
func (a *Auth) ServeRESP(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	switch {
	case req.Is("auth"):
		a.serveAuth(ctx, w, req)
	case req.Is("hello"):
		a.serveHello(ctx, w, req, next)
	case req.Is("reset"):
		// RESET logs the client out, as Redis does when its default user needs a
		// password; an unauthenticated client may send it.
		c := req.Conn()
		a.authed.Set(c, false)
		c.SetUser("")
		c.SetAuthRequired(true)
		next.ServeRESP(ctx, w, req)
	case a.authed.Get(req.Conn()), req.Is("quit"):
		next.ServeRESP(ctx, w, req)
	default:
		w.WriteReply(errNoAuth)
	}
}

// Authenticated reports whether c has authenticated through a. Loop-only.
func (a *Auth) Authenticated(c *proxy.Conn) bool { return a.authed.Get(c) }

// serveAuth answers AUTH [username] password.
func (a *Auth) serveAuth(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request) {
	args := req.Args()
	var name, password []byte
	switch len(args) {
	case 1:
		w.WriteReply(errArity)
		return
	case 2:
		name, password = defaultUser, args[1]
	case 3:
		name, password = args[1], args[2]
	default:
		w.WriteReply(errSyntax)
		return
	}
	c := req.Conn()
	if u, decided := a.static(name, password); decided {
		if u == nil {
			w.WriteReply(errWrongPass)
			return
		}
		a.grant(c, u.name)
		w.WriteReply(resp.OK)
		return
	}
	a.checkAsync(ctx, c, w, string(name), string(password), func(userName string) {
		a.grant(c, userName)
		w.WriteReply(resp.OK)
	})
}

// serveHello authenticates HELLO protover AUTH username password [SETNAME name] and
// passes HELLO protover [SETNAME name] on. HELLO without AUTH is passed on as it is.
func (a *Auth) serveHello(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	args := req.Args()
	if len(args) < 3 {
		next.ServeRESP(ctx, w, req)
		return
	}
	// Redis checks the version, then the options, before authenticating.
	ver, err := strconv.ParseInt(string(args[1]), 10, 64)
	if err != nil {
		w.WriteReply(errProtoNumber)
		return
	}
	if ver < 2 || ver > 3 {
		w.WriteReply(errNoProto)
		return
	}
	var logins [][2][]byte // every AUTH option: Redis checks each, in order
	rest := [][]byte{args[0], args[1]}
	for j := 2; j < len(args); j++ {
		more := len(args) - 1 - j
		switch opt := args[j]; {
		case bytes.EqualFold(opt, []byte("auth")) && more >= 2:
			logins = append(logins, [2][]byte{args[j+1], args[j+2]})
			j += 2
		case bytes.EqualFold(opt, []byte("setname")) && more >= 1:
			rest = append(rest, args[j], args[j+1])
			j++
		default:
			w.WriteReply(resp.Errorf("Syntax error in HELLO option '%s'", opt))
			return
		}
	}
	if len(logins) == 0 {
		next.ServeRESP(ctx, w, req)
		return
	}
	a.helloLogins(ctx, w, req, next, rest, logins)
}

// helloLogins checks the AUTH options of a HELLO one after the other, as Redis does: the
// first that fails answers -WRONGPASS; once all succeed, the client is the last one's
// user, and HELLO, without them, goes on.
func (a *Auth) helloLogins(ctx context.Context, w proxy.ReplyWriter, req *proxy.Request, next proxy.Handler, rest [][]byte, logins [][2][]byte) {
	c := req.Conn()
	name, password := logins[0][0], logins[0][1]
	done := func(user string, later bool) {
		a.grant(c, user)
		switch {
		case len(logins) > 1:
			a.helloLogins(ctx, w, req, next, rest, logins[1:])
		case later:
			req.SetCommand(resp.Command{Args: rest})
			proxy.Serve(ctx, next, w, req) // later, from Post: a panic below still gets its reply
		default:
			req.SetCommand(resp.Command{Args: rest})
			next.ServeRESP(ctx, w, req)
		}
	}
	if u, decided := a.static(name, password); decided {
		if u == nil {
			w.WriteReply(errWrongPass)
			return
		}
		done(u.name, false)
		return
	}
	a.checkAsync(ctx, c, w, string(name), string(password), func(user string) { done(user, true) })
}

// grant records that c authenticated as name, and lifts the limits on what an
// unauthenticated client may send.
func (a *Auth) grant(c *proxy.Conn, name string) {
	a.authed.Set(c, true)
	c.SetUser(name)
	c.SetAuthRequired(false)
}

// ObserveConn limits what a new connection may send until it authenticates, as Redis
// limits it (proxy.Conn.SetAuthRequired): a client that never logs in cannot make the
// proxy hold a big command.
func (a *Auth) ObserveConn(ctx context.Context, c *proxy.Conn) context.Context {
	c.SetAuthRequired(true)
	return ctx
}

// static checks name and password against Users, at once. decided is false when name is
// not listed and an Authenticator is set, which then decides; otherwise u is the user on
// success and nil on failure. An unknown name costs the same time as a wrong password.
func (a *Auth) static(name, password []byte) (u *user, decided bool) {
	u, listed := a.users[string(name)]
	if !listed && a.authn != nil {
		return nil, false
	}
	want := &a.dummy
	if listed {
		want = &u.hash
	}
	got := sha256.Sum256(password)
	if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && listed {
		return u, true
	}
	return nil, true
}

// checkAsync asks the Authenticator, holding c until the first of: its answer, the
// timeout, the connection closing. On success it calls ok, on the connection's loop, with
// the user's name; otherwise it writes the error reply to w. A failure leaves the
// connection's state as it was.
func (a *Auth) checkAsync(ctx context.Context, c *proxy.Conn, w proxy.ReplyWriter, name, password string, ok func(name string)) {
	settle := func(v resp.Value) {
		if v.Type == 0 {
			ok(name)
		} else {
			w.WriteReply(v)
		}
	}
	var release func()
	post := func(fn func()) { fn() } // no connection: answer from where the result comes
	if c != nil {
		release = c.Hold()
		post = c.Post
	}

	actx, cancel := context.WithTimeout(ctx, a.timeout)
	var settled atomic.Bool
	// finish settles the check once, with v (the zero Value for success), on the loop.
	finish := func(v resp.Value) {
		if settled.Swap(true) {
			return
		}
		cancel()
		post(func() {
			if release != nil {
				defer release()
				if c.Closed() {
					return // nobody to answer; the held commands were dropped with it
				}
			}
			settle(v)
		})
	}
	stop := context.AfterFunc(actx, func() {
		// The timeout, or the connection closed (then nothing is written).
		finish(errTimedOut)
	})
	a.authn.Authenticate(actx, name, password, func(good bool, err error) {
		if settled.Load() {
			return
		}
		stop()
		switch {
		case err != nil:
			finish(errUnavailable)
		case !good:
			finish(errWrongPass)
		default:
			finish(resp.Value{})
		}
	})
}

var _ proxy.Middleware = (*Auth)(nil)
