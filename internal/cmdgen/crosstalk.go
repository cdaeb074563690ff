package cmdgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// An Attack is what the attacker of a crosstalk run ([RunCrosstalk]) sends in one write
// on one client connection: one command, or a few that must share a connection
// (SCRIPT DEBUG YES, then EVAL).
type Attack [][]string

// String returns the attack's commands, separated by " ; ".
func (a Attack) String() string {
	var parts []string
	for _, cmd := range a {
		parts = append(parts, strings.Join(cmd, " "))
	}
	return strings.Join(parts, " ; ")
}

// Dangerous are the attacks that would hand one client's replies to another, were they
// sent over a server connection that many clients share: commands Redis answers with
// no reply or several, that change how the server answers on the connection (CLIENT
// REPLY, SCRIPT DEBUG, RESP3, tracking), that subscribe, stream, block, open a
// transaction or select a database, that hold state the proxy does not follow, and
// commands a proxy does not know (an unknown command, a module's). Each runs on a
// connection of its own or after earlier attacks on the same connection, whichever the
// attacker gives it.
var Dangerous = []Attack{
	{{"REPLCONF", "ACK", "0"}},
	{{"REPLCONF", "GETACK", "*"}},
	{{"REPLCONF", "FACK", "0"}},
	{{"REPLCONF", "listening-port", "1"}},
	{{"REPLCONF", "ACK", "0"}, {"REPLCONF", "ACK", "0"}, {"PING"}},
	{{"SCRIPT", "DEBUG", "YES"}, {"EVAL", "return 1", "0"}},
	{{"SCRIPT", "DEBUG", "SYNC"}, {"EVAL", "return 1", "0"}},
	{{"SCRIPT", "DEBUG", "NO"}, {"EVAL", "return 1", "0"}},
	{{"CLIENT", "REPLY", "OFF"}, {"PING"}, {"CLIENT", "REPLY", "ON"}},
	{{"CLIENT", "REPLY", "SKIP"}, {"PING"}},
	{{"CLIENT", "REPLY", "OFF"}},
	{{"CLIENT", "TRACKING", "on"}},
	{{"CLIENT", "TRACKING", "on"}, {"GET", "k1"}, {"SET", "k1", "v"}},
	{{"HELLO", "3"}, {"CLIENT", "TRACKING", "on"}, {"GET", "k1"}, {"SET", "k1", "v"}},
	{{"CLIENT", "TRACKING", "on", "BCAST"}, {"SET", "k2", "v"}},
	{{"CLIENT", "CACHING", "yes"}},
	{{"CLIENT", "NO-EVICT", "on"}},
	{{"CLIENT", "NO-TOUCH", "on"}},
	{{"CLIENT", "GETREDIR"}},
	{{"SUBSCRIBE", "ch"}},
	{{"PSUBSCRIBE", "*"}},
	{{"SSUBSCRIBE", "ch"}},
	{{"HELLO", "3"}, {"SUBSCRIBE", "ch"}, {"GET", "k1"}},
	{{"UNSUBSCRIBE"}},
	{{"PUBLISH", "ch", "m"}},
	{{"SPUBLISH", "ch", "m"}},
	{{"MONITOR"}},
	{{"SYNC"}},
	{{"PSYNC", "?", "-1"}},
	{{"MULTI"}},
	{{"MULTI"}, {"PING"}, {"EXEC"}},
	{{"WATCH", "k1"}},
	{{"SELECT", "1"}},
	{{"SELECT", "1"}, {"PING"}, {"SELECT", "0"}},
	{{"BLPOP", "q", "0"}},
	{{"BLMOVE", "q", "q2", "LEFT", "RIGHT", "0"}},
	{{"BZPOPMIN", "z", "0"}},
	{{"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}},
	{{"XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "$"}},
	{{"XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"}},
	{{"WAIT", "1", "0"}},
	{{"CLIENT", "PAUSE", "50"}},
	{{"CLIENT", "PAUSE", "50", "WRITE"}},
	{{"CLIENT", "UNPAUSE"}},
	{{"HELLO", "3"}},
	{{"HELLO", "3"}, {"PING", "x"}, {"HELLO", "2"}},
	{{"READONLY"}},
	{{"READWRITE"}},
	{{"ASKING"}},
	{{"RESET"}},
	{{"QUIT"}},
	{{"DEBUG", "SLEEP", "0"}},
	{{"DEBUG", "PROTOCOL", "attrib"}},
	{{"DEBUG", "PROTOCOL", "push"}},
	{{"CLIENT", "KILL", "TYPE", "normal"}},
	{{"CLIENT", "KILL", "SKIPME", "no"}},
	{{"CLIENT", "UNBLOCK", "1"}},
	{{"CLIENT", "SETNAME", "x"}},
	{{"AUTH", "x"}},
	{{"AUTH", "default", "x"}},
	{{"NOSUCHCMD", "a"}},
	{{"JSON.SET", "k", "$", "1"}},
	{{"SCRIPT", "KILL"}},
	{{"FUNCTION", "KILL"}},
	{{"FUNCTION", "STATS"}},
	{{"EVAL", "return redis.call('client','reply','off')", "0"}},
	{{"EVAL", "return redis.call('select','1')", "0"}},
	// A group or a consumer named like XREADGROUP's STREAMS keyword: the BLOCK option
	// must still be found.
	{{"XGROUP", "CREATE", "xs1", "streams", "$", "MKSTREAM"},
		{"XREADGROUP", "GROUP", "streams", "c", "BLOCK", "0", "STREAMS", "xs1", ">"}},
	{{"XGROUP", "CREATE", "xs2", "g", "$", "MKSTREAM"},
		{"XREADGROUP", "GROUP", "g", "streams", "BLOCK", "0", "STREAMS", "xs2", ">"}},
	// What a client sends once its connection is a stream of the server's must not run
	// on the server in the proxy's stead.
	{{"MONITOR"}, {"CLIENT", "KILL", "TYPE", "normal"}},
	{{"MONITOR"}, {"SHUTDOWN", "NOSAVE"}},
	{{"SYNC"}, {"CLIENT", "KILL", "TYPE", "normal"}},
}

// ServerWide are invocations of the commands that act on the whole server that every
// client of a proxy shares, and would take it away from them (SHUTDOWN, REPLICAOF,
// SLAVEOF, FAILOVER, MODULE LOAD/LOADEX/UNLOAD), by the name of their docs. A proxy
// refuses some or all of them; a crosstalk test checks that it refuses those its
// command model says it does, and leaves the others out of its attack.
var ServerWide = map[string][][]string{
	"shutdown":      {{"SHUTDOWN", "NOSAVE"}, {"SHUTDOWN"}},
	"replicaof":     {{"REPLICAOF", "127.0.0.1", "1"}, {"REPLICAOF", "NO", "ONE"}},
	"slaveof":       {{"SLAVEOF", "127.0.0.1", "1"}},
	"failover":      {{"FAILOVER"}},
	"module|load":   {{"MODULE", "LOAD", "/nonexistent/module.so"}},
	"module|loadex": {{"MODULE", "LOADEX", "/nonexistent/module.so"}},
	"module|unload": {{"MODULE", "UNLOAD", "x"}},
}

// CheckServerWide checks, for each command of [ServerWide] that refused reports the
// proxy at addr refuses (refused gets the command's words: "MODULE", "LOAD"), that
// the proxy answers its invocations with its refusal, an error that says "not allowed
// through the proxy", and removes the others from docs, so that an attack built from
// docs leaves them out: they would take the server away from the test. Call it from
// the test's goroutine.
func CheckServerWide(t testing.TB, addr string, docs Docs, refused func(words []string) bool) {
	t.Helper()
	c := proxytest.Dial(t, addr)
	for _, name := range slices.Sorted(maps.Keys(ServerWide)) {
		words := strings.Split(strings.ToUpper(name), "|")
		if !refused(words) {
			delete(docs, name)
			t.Logf("%s left out of the attack: the proxy passes it to the server", strings.Join(words, " "))
			continue
		}
		for _, cmd := range ServerWide[name] {
			v := c.Do(cmd...)
			if v.Type != resp.TypeError || !strings.Contains(string(v.Str), "not allowed through the proxy") {
				t.Errorf("%q = %q, want it refused by the proxy", cmd, v.AppendTo(nil))
			}
		}
	}
}

// Attacks returns up to perCommand invocations built by g of every command and
// subcommand of docs, each an attack of its own, in name order. Invocations of a
// command that are the same are sent once: a command without arguments (PFSELFTEST,
// SAVE) has only one.
func Attacks(docs Docs, g *Gen, perCommand int) []Attack {
	var out []Attack
	for _, name := range docs.Names() {
		seen := map[string]bool{}
		for range perCommand {
			args := g.Args(docs[name])
			key := strings.Join(args, "\x00")
			if !seen[key] {
				seen[key] = true
				out = append(out, Attack{args})
			}
		}
	}
	return out
}

// Shuffle puts attacks in an order drawn by g, so that the state one attack leaves on
// its connection meets others than its neighbours in name order.
func (g *Gen) Shuffle(attacks []Attack) {
	g.R.Shuffle(len(attacks), func(i, j int) { attacks[i], attacks[j] = attacks[j], attacks[i] })
}

// Seed returns the seed of a test's generated invocations: the REDCHAIN_SEED
// environment variable, or else the time. It logs it, so that a failure can be replayed.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REDCHAIN_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REDCHAIN_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (set REDCHAIN_SEED to replay)", seed)
	return seed
}

// Crosstalk configures [RunCrosstalk]. Zero fields take the defaults.
type Crosstalk struct {
	// Addr is the proxy's address.
	Addr string
	// Victims is how many victim connections there are (default 8). They are dialled
	// one after the other before the attack starts, so that a server that spreads its
	// connections over event loops round-robin puts consecutive victims on different
	// loops.
	Victims int
	// RESP3 is how many of the victims, the first ones, switch to RESP3 (HELLO 3)
	// before they start (default Victims/2; -1 for none).
	RESP3 int
	// Pings is how many PINGs each victim sends at least (default 1500): it goes on
	// until the attack is over, and must have sent that many by then.
	Pings int
	// Batch is how many PINGs a victim pipelines in one write (default 50).
	Batch int
	// Attackers is how many attacker connections send attacks at once (default 8).
	Attackers int
	// AttackTimeout is how long an attacker waits for the replies of an attack before
	// it drops the connection and goes on with a new one (default 250ms): a blocking
	// command, a MULTI left open or a command answered with no reply hold the
	// attacker's connection, never the victims'.
	AttackTimeout time.Duration
	// Fresh are attacks sent each on a new connection, in the state of a client that
	// just connected, rather than after other attacks on the same connection; they
	// are spread evenly among the attacks given to RunCrosstalk.
	Fresh []Attack
	// Deadline bounds the whole run (default 30s): a victim that has not received all
	// its replies by then starved, and attacks not sent by then are not sent.
	Deadline time.Duration
}

func (c *Crosstalk) defaults() {
	if c.Victims <= 0 {
		c.Victims = 8
	}
	switch {
	case c.RESP3 == 0:
		c.RESP3 = c.Victims / 2
	case c.RESP3 < 0:
		c.RESP3 = 0
	}
	if c.Pings <= 0 {
		c.Pings = 1500
	}
	if c.Batch <= 0 {
		c.Batch = 50
	}
	if c.Attackers <= 0 {
		c.Attackers = 8
	}
	if c.AttackTimeout <= 0 {
		c.AttackTimeout = 250 * time.Millisecond
	}
	if c.Deadline <= 0 {
		c.Deadline = 30 * time.Second
	}
}

// CrosstalkResult is what a crosstalk run saw.
type CrosstalkResult struct {
	Attacks  int // attacks written
	Sent     int // commands of attacks written (the attacker's own markers not counted)
	Answered int // attacks whose replies all came back
	Dropped  int // attacks whose replies did not come within AttackTimeout: connection dropped
	Closed   int // attacks after which the connection ended: closed, or a stream that is not RESP (SYNC's)
	// Held are the attacks whose replies did not come within AttackTimeout (blocking
	// commands, a MULTI left open...), as Attack.String writes them, each with the
	// attack before it on its connection, if any.
	Held []string
	// Reconnects counts the victims' connections that the proxy closed after a CLIENT
	// KILL of the attackers, and that the victims made again.
	Reconnects int
	// Pings are the PINGs each victim got its own reply to.
	Pings []int
	// Failures describe what went wrong: a victim that got a reply not its own, or
	// none before the deadline, an attacker that could not send; empty when nothing did.
	Failures []string
	Elapsed  time.Duration
}

// RunCrosstalk attacks the proxy at cfg.Addr while victims use it, and reports whether
// any client got a reply that was not its own. The victims pipeline PING <token>, with
// a token unique to the victim and the command, and check that every reply is exactly
// their token as a bulk string (RESP2 and RESP3 alike): another victim's token, an
// attacker's reply, an error or a push frame is a failure. Meanwhile cfg.Attackers
// connections send the attacks, each followed by a PING of a marker of the attacker's
// in the same write, and read replies until the marker comes back; after
// AttackTimeout, or when the proxy closes the connection, the next attack goes on a new
// connection. The first failure stops the attack (what follows a connection whose
// replies went astray is noise): the attacks left are not sent. Attacks run in the
// order given, spread over the attacker connections;
// the state an attack leaves (RESP3, a subscription, a database) stays for the next
// attacks on its connection, but for cfg.Fresh, each sent on a new connection.
//
// RunCrosstalk uses no testing.TB and may run on any goroutine. See [CheckCrosstalk].
func RunCrosstalk(cfg Crosstalk, attacks []Attack) CrosstalkResult {
	cfg.defaults()
	start := time.Now()
	deadline := start.Add(cfg.Deadline)
	r := &run{cfg: cfg, deadline: deadline, res: CrosstalkResult{Pings: make([]int, cfg.Victims)}}

	// Victims first, one after the other.
	var victims []*victim
	for i := range cfg.Victims {
		v, err := r.newVictim(i)
		if err != nil {
			v.close()
			r.fail("victim %d: %v", i, err)
			continue
		}
		victims = append(victims, v)
	}
	defer func() {
		for _, v := range victims {
			v.close()
		}
	}()

	attackDone := make(chan struct{})
	var wg sync.WaitGroup
	for _, v := range victims {
		wg.Go(func() { v.run(attackDone) })
	}

	queue := make(chan queued)
	var attackers sync.WaitGroup
	for id := range cfg.Attackers {
		attackers.Go(func() { r.attack(id, queue) })
	}
	f := 0
	for i, a := range attacks {
		// The fresh attacks spread evenly among the others.
		for ; f < len(cfg.Fresh) && f*len(attacks) <= i*len(cfg.Fresh); f++ {
			queue <- queued{cfg.Fresh[f], true}
		}
		queue <- queued{a, false}
	}
	for ; f < len(cfg.Fresh); f++ {
		queue <- queued{cfg.Fresh[f], true}
	}
	close(queue)
	attackers.Wait()
	close(attackDone)
	wg.Wait()

	r.res.Reconnects = int(r.reconnects.Load())
	r.res.Elapsed = time.Since(start)
	return r.res
}

// CheckCrosstalk runs [RunCrosstalk] and fails t with each of its failures, or, if
// there were none, when an attack was not sent; it logs what the attackers and victims
// did. Call it from the test's goroutine.
func CheckCrosstalk(t testing.TB, cfg Crosstalk, attacks []Attack) CrosstalkResult {
	t.Helper()
	res := RunCrosstalk(cfg, attacks)
	n, commands := len(attacks)+len(cfg.Fresh), 0
	for _, a := range slices.Concat(attacks, cfg.Fresh) {
		commands += len(a)
	}
	total := 0
	for _, n := range res.Pings {
		total += n
	}
	t.Logf("crosstalk: %d attacks (%d commands) sent of %d (%d); %d answered, %d dropped after a timeout, %d closed by the proxy; "+
		"victims got %d replies right (%v), reconnected %d times after a CLIENT KILL; %v",
		res.Attacks, res.Sent, n, commands, res.Answered, res.Dropped, res.Closed, total, res.Pings, res.Reconnects,
		res.Elapsed.Round(time.Millisecond))
	slices.Sort(res.Held)
	t.Logf("crosstalk: attacks held past the attack timeout: %q", res.Held)
	for _, f := range res.Failures {
		t.Error(f)
	}
	if len(res.Failures) == 0 && (res.Attacks != n || res.Sent != commands) {
		t.Errorf("the attackers sent %d attacks (%d commands), want all %d (%d commands)",
			res.Attacks, res.Sent, n, commands)
	}
	return res
}

// run is the shared state of one RunCrosstalk.
type run struct {
	cfg      Crosstalk
	deadline time.Time

	failed     atomic.Bool  // a failure was seen: the attack stops
	kills      atomic.Int64 // attacks with a CLIENT KILL sent, or about to be
	reconnects atomic.Int64 // victims' connections made again

	mu  sync.Mutex
	res CrosstalkResult
}

// failuresKept bounds the failures a run keeps: one broken connection can tell the
// same story many times.
const failuresKept = 50

func (r *run) fail(format string, args ...any) {
	r.failed.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case len(r.res.Failures) < failuresKept:
		r.res.Failures = append(r.res.Failures, fmt.Sprintf(format, args...))
	case len(r.res.Failures) == failuresKept:
		r.res.Failures = append(r.res.Failures, "... (more failures left out)")
	}
}

// victim is one victim, on one connection at a time.
type victim struct {
	r     *run
	i     int
	proto int
	fr    *frameReader
}

func (r *run) newVictim(i int) (*victim, error) {
	v := &victim{r: r, i: i, proto: 2}
	if i < r.cfg.RESP3 {
		v.proto = 3
	}
	return v, v.dial()
}

// dial connects the victim, closing its connection if it had one, and switches it to
// RESP3 if it speaks that.
func (v *victim) dial() error {
	if v.fr != nil {
		v.fr.conn.Close()
		v.fr = nil
	}
	conn, err := net.DialTimeout("tcp", v.r.cfg.Addr, time.Until(v.r.deadline))
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(v.r.deadline)
	v.fr = newFrameReader(conn)
	if v.proto == 3 {
		if _, err := conn.Write(resp.NewCommand("HELLO", "3").AppendTo(nil)); err != nil {
			return fmt.Errorf("HELLO 3: %v", err)
		}
		f, err := v.fr.next()
		if err != nil {
			return fmt.Errorf("HELLO 3: %v", err)
		}
		if resp.Type(f[0]) != resp.TypeMap {
			return fmt.Errorf("HELLO 3 = %q, want a map", f)
		}
	}
	return nil
}

// maxRedials bounds how many times in a row a victim connects again after CLIENT
// KILLs: a proxy that closes every connection at once is not killing it.
const maxRedials = 20

// redial connects the victim again, as many times as CLIENT KILLs close the new
// connection before it is ready.
func (v *victim) redial() error {
	for range maxRedials {
		v.r.reconnects.Add(1)
		err := v.dial()
		if err == nil || isTimeout(err) || errors.As(err, new(*resp.ProtocolError)) {
			return err
		}
	}
	return fmt.Errorf("closed %d times in a row", maxRedials)
}

func (v *victim) close() {
	if v.fr != nil {
		v.fr.conn.Close()
	}
}

// token is the argument of a victim's PING number n.
func token(victim, n int) string { return "v" + strconv.Itoa(victim) + "." + strconv.Itoa(n) }

// run pings until it has sent cfg.Pings and the attack is over, or until a reply is
// not its own. A connection the proxy closes after the attackers sent a CLIENT KILL
// (which may name the victim: TYPE normal does) is made again, and the batch sent
// again on it; one closed before is a failure.
func (v *victim) run(attackDone <-chan struct{}) {
	cfg := v.r.cfg
	var req []byte
	expect := make([][]byte, cfg.Batch)
	n := 0
	over := false
	for n < cfg.Pings || !over {
		req = req[:0]
		for j := range cfg.Batch {
			tok := token(v.i, n+j)
			req = resp.NewCommand("PING", tok).AppendTo(req)
			expect[j] = resp.BulkString(tok).AppendTo(expect[j][:0])
		}
		j, f, err := v.batch(req, expect)
		switch {
		case err == nil && j == cfg.Batch:
			n += cfg.Batch
		case err == nil:
			v.r.fail("victim %d (RESP%d): PING %s (after %d answered) got %s",
				v.i, v.proto, token(v.i, n+j), n+j, describe(v.i, n+j, f))
			v.done(n + j)
			return
		case isTimeout(err):
			v.r.fail("victim %d (RESP%d) starved: no reply to PING %s (%d PINGs answered before): %v",
				v.i, v.proto, token(v.i, n+j), n+j, err)
			v.done(n + j)
			return
		case errors.As(err, new(*resp.ProtocolError)):
			v.r.fail("victim %d (RESP%d): PING %s (after %d answered) got a malformed reply: %v",
				v.i, v.proto, token(v.i, n+j), n+j, err)
			v.done(n + j)
			return
		case v.r.kills.Load() > 0:
			if err := v.redial(); err != nil {
				v.r.fail("victim %d (RESP%d): connecting again after the proxy closed its connection: %v", v.i, v.proto, err)
				v.done(n)
				return
			}
			continue // the same batch again, on the new connection
		default:
			v.r.fail("victim %d (RESP%d): the proxy closed its connection, and no CLIENT KILL was sent: PING %s (after %d answered): %v",
				v.i, v.proto, token(v.i, n+j), n+j, err)
			v.done(n + j)
			return
		}
		select {
		case <-attackDone:
			over = true
		default:
		}
	}
	v.done(n)
}

// batch writes req and reads len(expect) replies, and returns how many were as
// expected; when one was not, f is what came instead; err is a failure to write or
// read.
func (v *victim) batch(req []byte, expect [][]byte) (j int, f []byte, err error) {
	if _, err := v.fr.conn.Write(req); err != nil {
		return 0, nil, err
	}
	for j = range expect {
		f, err := v.fr.next()
		if err != nil {
			return j, nil, err
		}
		if !bytes.Equal(f, expect[j]) {
			return j, f, nil
		}
	}
	return len(expect), nil, nil
}

// isTimeout reports whether err is a read or write that reached its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (v *victim) done(n int) {
	v.r.mu.Lock()
	v.r.res.Pings[v.i] = n
	v.r.mu.Unlock()
}

// describe tells what victim self got instead of its reply to PING number n.
func describe(self, n int, f []byte) string {
	v, _, err := resp.ParseValue(f, resp.Limits{})
	q := strconv.Quote(string(f))
	if len(q) > 200 {
		q = q[:200] + "..."
	}
	switch {
	case err != nil:
		return q + " (malformed: " + err.Error() + ")"
	case v.Type == resp.TypeBulkString && !v.Null:
		s := string(v.Str)
		if who, num, ok := strings.Cut(strings.TrimPrefix(s, "v"), "."); ok && strings.HasPrefix(s, "v") {
			m, _ := strconv.Atoi(num)
			switch {
			case who != strconv.Itoa(self):
				return q + ": victim " + who + "'s reply"
			case m > n:
				return q + ": the reply to a later PING of its own: an earlier reply was lost or went to another client"
			default:
				return q + ": the reply to an earlier PING of its own: a reply came twice"
			}
		}
		if strings.HasPrefix(s, "a") && strings.Contains(s, ".") {
			return q + ": an attacker's reply (its marker)"
		}
		return q + ": a reply to another client's command"
	case v.Type == resp.TypePush:
		return q + ": a push frame"
	case v.IsError():
		return q + ": an error"
	}
	return q + ": a reply to another client's command"
}

// queued is an attack for the attackers, and whether it goes on a new connection.
type queued struct {
	atk   Attack
	fresh bool
}

// attack sends attacks from queue on connections of its own.
func (r *run) attack(id int, queue <-chan queued) {
	a := &attacker{r: r, id: id}
	defer a.drop()
	for q := range queue {
		if r.failed.Load() || time.Now().After(r.deadline) {
			continue // not sent
		}
		if q.fresh {
			a.drop()
		}
		a.send(q.atk)
	}
}

// attacker is one attacker connection, made again when dropped.
type attacker struct {
	r      *run
	id     int
	n      int // markers sent
	fr     *frameReader
	reused bool   // fr has carried an attack already
	last   string // the last attack fr carried
}

func (a *attacker) drop() {
	if a.fr != nil {
		a.fr.conn.Close()
		a.fr = nil
	}
}

func (a *attacker) dial() error {
	conn, err := net.DialTimeout("tcp", a.r.cfg.Addr, time.Until(a.r.deadline))
	if err != nil {
		return err
	}
	a.fr, a.reused, a.last = newFrameReader(conn), false, ""
	return nil
}

// send writes atk and its marker, and reads replies until the marker's.
func (a *attacker) send(atk Attack) {
	a.n++
	marker := "a" + strconv.Itoa(a.id) + "." + strconv.Itoa(a.n)
	var req []byte
	for _, cmd := range atk {
		req = resp.NewCommand(cmd...).AppendTo(req)
	}
	req = resp.NewCommand("PING", marker).AppendTo(req)
	if kills(atk) {
		a.r.kills.Add(1)
	}
	for try := 0; ; try++ {
		if a.fr == nil {
			if err := a.dial(); err != nil {
				a.r.fail("attacker %d: dial: %v; attack %s not sent", a.id, err, atk)
				return
			}
		}
		_ = a.fr.conn.SetWriteDeadline(a.r.deadline)
		_, err := a.fr.conn.Write(req)
		if err == nil {
			break
		}
		// The proxy closed a connection that carried attacks: try a new one, once.
		reused := a.reused
		a.drop()
		if try > 0 || !reused {
			a.r.fail("attacker %d: write: %v; attack %s not sent", a.id, err, atk)
			return
		}
	}
	after := a.last
	a.reused, a.last = true, atk.String()
	a.r.mu.Lock()
	a.r.res.Attacks++
	a.r.res.Sent += len(atk)
	a.r.mu.Unlock()

	until := time.Now().Add(a.r.cfg.AttackTimeout)
	if until.After(a.r.deadline) {
		until = a.r.deadline
	}
	_ = a.fr.conn.SetReadDeadline(until)
	for {
		f, err := a.fr.next()
		if err != nil {
			a.r.mu.Lock()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				a.r.res.Dropped++
				held := atk.String()
				if after != "" {
					held += " (after " + after + ")"
				}
				a.r.res.Held = append(a.r.res.Held, held)
			} else {
				a.r.res.Closed++
			}
			a.r.mu.Unlock()
			a.drop()
			return
		}
		if v, _, err := resp.ParseValue(f, resp.Limits{}); err == nil && holds(v, marker) {
			a.r.mu.Lock()
			a.r.res.Answered++
			a.r.mu.Unlock()
			return
		}
	}
}

// kills reports whether atk has a CLIENT KILL, which may close other clients'
// connections.
func kills(atk Attack) bool {
	for _, cmd := range atk {
		if len(cmd) > 1 && strings.EqualFold(cmd[0], "client") && strings.EqualFold(cmd[1], "kill") {
			return true
		}
	}
	return false
}

// holds reports whether v is s, or an aggregate that holds s (PING's reply in RESP2
// subscribe mode: pong and the argument).
func holds(v resp.Value, s string) bool {
	if string(v.Str) == s && (v.Type == resp.TypeBulkString || v.Type == resp.TypeSimpleString) {
		return true
	}
	for _, e := range v.Elems {
		if holds(e, s) {
			return true
		}
	}
	return false
}

// frameReader reads whole RESP frames from a connection.
type frameReader struct {
	conn net.Conn
	mem  []byte // mem[off:] is read and not yet returned
	off  int
	rp   resp.ReplyParser
}

func newFrameReader(conn net.Conn) *frameReader {
	return &frameReader{conn: conn, mem: make([]byte, 0, 64<<10)}
}

// next returns the next frame, valid until the following call, or the read's error.
func (r *frameReader) next() ([]byte, error) {
	for {
		if buf := r.mem[r.off:]; len(buf) > 0 {
			n, err := r.rp.Next(buf)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				r.off += n
				return buf[:n], nil
			}
		}
		// Make room: move what is unread to the front, or grow.
		if r.off > 0 {
			n := copy(r.mem, r.mem[r.off:])
			r.mem, r.off = r.mem[:n], 0
		}
		if cap(r.mem)-len(r.mem) < 16<<10 {
			grown := make([]byte, len(r.mem), 2*cap(r.mem))
			copy(grown, r.mem)
			r.mem = grown
		}
		m, err := r.conn.Read(r.mem[len(r.mem):cap(r.mem)])
		r.mem = r.mem[:len(r.mem)+m]
		if err != nil && m == 0 {
			return nil, err
		}
	}
}

// LoopWitness is a pass-through middleware that records, from their PINGs, the event
// loop each victim of a crosstalk run lives on, so that a test can check that the
// victims share the server connections of every loop. Put it in the proxy's chain.
type LoopWitness struct {
	seen proxy.ConnKey[bool]

	mu    sync.Mutex
	loops map[int]*proxy.Loop // by victim
}

// NewLoopWitness returns an empty LoopWitness.
func NewLoopWitness() *LoopWitness {
	return &LoopWitness{seen: proxy.NewConnKey[bool](), loops: map[int]*proxy.Loop{}}
}

// ServeRESP records the loop of a victim's connection at its first PING, and passes
// every command on.
func (w *LoopWitness) ServeRESP(ctx context.Context, rw proxy.ReplyWriter, req *proxy.Request, next proxy.Handler) {
	if c := req.Conn(); c != nil && !w.seen.Get(c) {
		if args := req.Args(); len(args) == 2 && bytes.EqualFold(args[0], []byte("ping")) && bytes.HasPrefix(args[1], []byte("v")) {
			if who, _, ok := strings.Cut(string(args[1][1:]), "."); ok {
				if i, err := strconv.Atoi(who); err == nil {
					w.seen.Set(c, true)
					w.mu.Lock()
					w.loops[i] = c.Loop()
					w.mu.Unlock()
				}
			}
		}
	}
	next.ServeRESP(ctx, rw, req)
}

// Spread returns how many victims were seen, and on how many different loops.
func (w *LoopWitness) Spread() (victims, loops int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	distinct := map[*proxy.Loop]bool{}
	for _, l := range w.loops {
		distinct[l] = true
	}
	return len(w.loops), len(distinct)
}
