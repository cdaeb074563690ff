package rewrite_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/internal/cmdgen"
	"github.com/redchain/redchain/middleware/rewrite"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/proxy/resp"
)

// The tenant of TestNamespaceNoEscape and how hard it tries.
const (
	tenantA = "tA:"
	// escapeTries is how many generated invocations each command and subcommand of the
	// server with key arguments gets, and escapeTriesNoKeys each of the others.
	escapeTries       = 16
	escapeTriesNoKeys = 4
	// escapeChaos is the generator's chaos: the share of malformed invocations.
	escapeChaos = 0.25
	// blockWait is how long an attacker waits for the reply of a command that may block
	// (BLPOP k 0, XREAD BLOCK 0, WAIT 1 0, CLIENT REPLY OFF...) before it closes the
	// connection and goes on with a new one.
	blockWait = 250 * time.Millisecond
	// replyWait is how long it waits for the reply of a command that should answer at
	// once.
	replyWait = 5 * time.Second
)

// escapeKey is a key name and how to store data under it. The keys of otherKeys are
// stored unprefixed, for the tenant not to reach; the tenant has one of the same name
// and type under its own prefix, so that its commands naming them find data and act.
type escapeKey struct {
	name  string
	setup func(k string) [][]string
}

func str(v string) func(string) [][]string {
	return func(k string) [][]string { return [][]string{{"SET", k, v}} }
}

func stream(k string) [][]string {
	return [][]string{
		{"XADD", k, "1-1", "f", "v"}, {"XADD", k, "2-1", "f", "w"},
		{"XGROUP", "CREATE", k, "g", "0"}, {"XGROUP", "CREATE", k, "streams", "0"},
	}
}

// Lists and sets hold numbers, for SORT.
func list(k string) [][]string { return [][]string{{"RPUSH", k, "3", "1", "2"}} }

func set(k string) [][]string { return [][]string{{"SADD", k, "1", "2"}} }

func geo(k string) [][]string {
	return [][]string{{"GEOADD", k, "0", "0", "m", "0.001", "0.001", "n"}}
}

// otherKeys are the keys of tenant B and those outside every namespace, set up directly
// on the server in databases 0 and 1.
var otherKeys = []escapeKey{
	{"tB:victim", str("precious")},
	{"tB:str", str("v")},
	{"tB:list", list},
	{"tB:hash", func(k string) [][]string { return [][]string{{"HSET", k, "f", "v", "g", "w"}} }},
	{"tB:set", set},
	{"tB:zset", func(k string) [][]string { return [][]string{{"ZADD", k, "1", "1", "2", "2"}} }},
	{"tB:stream", stream},
	{"tB:geo", geo},
	{"tB:hll", func(k string) [][]string { return [][]string{{"PFADD", k, "a", "b", "c"}} }},
	{"victim", str("precious")},
	{"k1", str("precious")},
	{"streams", stream},
	{"list", list},
}

// ownKeys are keys only the tenant has (under its prefix), for the escape attempts.
var ownKeys = []escapeKey{
	{"tA-list", list},
	{"geo", geo},
	{"k", str("v")},
	{"tA-set", set},
}

// tBlib is a function library of tenant B's, and tBscript a script of its: SCRIPT FLUSH
// or FUNCTION FLUSH from the tenant would remove them.
const (
	tBlib = "#!lua name=tBlib\n" +
		"redis.register_function('tbdel', function(keys, args) return redis.call('del', 'tB:victim') end)\n" +
		"redis.register_function{function_name='tbget', callback=function(keys, args) return redis.call('get', 'tB:victim') end, flags={'no-writes'}}"
	tBscript = "return redis.call('del', 'tB:victim')"
)

// TestNamespaceNoEscape is the acceptance test of key namespaces: a client in the
// namespace "tA:" cannot modify a key outside its prefix, in any database, with any
// command of the real server's command table. It sends every command and subcommand of
// the server's COMMAND DOCS several times (generated, some malformed, with tenant B's
// and unprefixed key names as keys and as plain values), and a list of known escape
// attempts, through a proxy in front of a real redis-server; the server's keyspace
// notifications name every key modified, which must all be the tenant's, and tenant B's
// keys, the unprefixed ones, B's function library and script must be as they were.
func TestNamespaceNoEscape(t *testing.T) {
	t.Parallel()
	seed := cmdgen.Seed(t)
	st := newStack(t, newRewrite(t, rewrite.Config{Prefix: tenantA}))
	e := &escaper{t: t, proxyAddr: st.proxy.Addr(), serverAddr: st.redis.Addr(), dbs: map[string]*proxytest.Client{}}
	docs := cmdgen.Fetch(t, e.serverAddr)
	e.w = cmdgen.Watch(t, e.serverAddr)
	e.setup()

	g := cmdgen.New(seed, escapeChaos)
	var names []string
	for _, k := range append(slices.Clone(otherKeys), ownKeys...) {
		names = append(names, k.name)
	}
	g.V = cmdgen.Vocab{
		Keys:    slices.Concat(names, []string{"", "x", "STORE", "by", "{t}a"}),
		Strings: slices.Concat(cmdgen.DefaultVocab.Strings, names, []string{"tB:*", "tB:hash->f", "nosort", "DB", "REPLACE"}),
		Ints:    cmdgen.DefaultVocab.Ints,
		Doubles: cmdgen.DefaultVocab.Doubles,
	}

	// The known escapes, one connection each.
	for _, a := range e.knownAttempts() {
		e.seedTenant()
		res := e.runSequence(a.cmds, a.want)
		e.checkpoint(fmt.Sprintf("attempt %q", a.cmds), res)
	}

	// Every command of the server. Those the model says answer once, at once, and leave
	// no state (Shared and EveryShard) go one after the other on one connection, the
	// witness asked after each; the others of a command (MULTI, SUBSCRIBE, CLIENT REPLY
	// OFF, unknown ones...) go together, on a connection each, the witness asked after
	// them; those that may block go last, all together.
	var blocking []*result
	for _, name := range docs.Names() {
		d := docs[name]
		e.seedTenant()
		var batch []*result
		tries := escapeTriesNoKeys
		if d.HasKeys() {
			tries = escapeTries
		}
		for range tries {
			args := g.Args(d)
			switch kindOf(args) {
			case kindShared:
				r := e.runShared(args)
				e.touched(name, []*result{r})
				batch = append(batch, r)
			case kindBlocking:
				blocking = append(blocking, &result{args: args})
			default:
				batch = append(batch, &result{args: args})
			}
		}
		var par []*result
		for _, r := range batch {
			if r.sent == 0 {
				par = append(par, r)
			}
		}
		e.runParallel(par, blockWait)
		e.checkpoint(name, batch)
	}
	e.seedTenant()
	for chunk := range slices.Chunk(blocking, 64) {
		e.runParallel(chunk, blockWait)
		e.checkpoint("blocking commands", chunk)
	}

	e.final()
	t.Logf("%d invocations sent (%d commands and subcommands; %d known escape attempts): "+
		"%d refused by the namespace, %d succeeded, %d other errors, %d without a reply in time",
		e.sent, len(docs), len(e.knownAttempts()), e.refused, e.ok, e.failed, e.silent)
	if e.refused < 100 || e.ok < 500 {
		t.Errorf("only %d refused and %d succeeded: the attack is too weak to prove anything", e.refused, e.ok)
	}
}

// attempt is a known escape: commands sent in order on one connection, and what each
// must get, so that an attempt that should act does (else it proves nothing).
type attempt struct {
	cmds [][]string
	want string // per command: 'o' succeeds, 'r' refused by the namespace, '?' anything
}

func (e *escaper) knownAttempts() []attempt {
	port := e.serverAddr[strings.LastIndexByte(e.serverAddr, ':')+1:]
	one := func(want string, cmd ...string) attempt { return attempt{[][]string{cmd}, want} }
	return []attempt{
		one("o", "SORT", "tA-list", "STORE", "by", "STORE", "tB:victim"),
		one("o", "SORT", "tA-list", "STORE", "limit", "STORE", "tB:victim"),
		one("o", "SORT", "tA-list", "STORE", "get", "STORE", "tB:victim"),
		one("o", "SORT", "tA-list", "STORE", "BY", "STORE", "victim"),
		one("o", "SORT", "tA-list", "LIMIT", "0", "1", "STORE", "victim"),
		one("o", "SORT", "tA-list", "BY", "tB:*", "GET", "#", "GET", "tB:hash->f", "STORE", "victim"),
		one("o", "SORT", "tA-list", "BY", "nosort", "STORE", "list"),
		one("?", "SORT_RO", "tA-list", "STORE", "victim"),
		one("o", "GEORADIUS", "geo", "0", "0", "1000", "km", "STORE", "x", "STORE", "tB:victim"),
		one("o", "GEORADIUS", "geo", "0", "0", "1000", "km", "STORE", "x", "STOREDIST", "tB:victim"),
		one("o", "GEORADIUS", "geo", "0", "0", "1000", "km", "COUNT", "1", "STORE", "victim"),
		one("o", "GEORADIUSBYMEMBER", "geo", "m", "1000", "km", "STOREDIST", "x", "STOREDIST", "tB:victim"),
		one("o", "GEORADIUSBYMEMBER", "geo", "m", "1000", "km", "STORE", "STOREDIST", "STOREDIST", "victim"),
		one("?", "GEORADIUS_RO", "geo", "0", "0", "1000", "km", "STORE", "victim"),
		one("o", "GEOSEARCHSTORE", "tB:victim", "geo", "FROMMEMBER", "m", "BYRADIUS", "1000", "km"),
		one("o", "XREADGROUP", "COUNT", "1", "GROUP", "streams", "c", "STREAMS", "tB:stream", ">"),
		one("o", "XREADGROUP", "GROUP", "streams", "c", "COUNT", "1", "STREAMS", "streams", ">"),
		one("o", "XREADGROUP", "GROUP", "streams", "STREAMS", "STREAMS", "tB:stream", ">"),
		one("o", "XREAD", "COUNT", "1", "STREAMS", "streams", "0"),
		one("o", "XAUTOCLAIM", "tB:stream", "streams", "c", "0", "0"),
		one("o", "XGROUP", "CREATECONSUMER", "tB:stream", "streams", "c2"),
		one("r", "EVAL", "return redis.call('del','tB:victim')", "0"),
		one("r", "EVAL", "return redis.call('del',KEYS[1])", "1", "k"),
		one("r", "EVAL_RO", "return redis.call('get','tB:victim')", "0"),
		one("r", "EVALSHA", e.sha, "0"),
		one("r", "FCALL", "tbdel", "0"),
		one("r", "FCALL_RO", "tbget", "0"),
		one("r", "MOVE", "k", "1"),
		one("r", "MOVE", "tB:victim", "1"),
		one("r", "SWAPDB", "0", "1"),
		one("r", "FLUSHALL"),
		one("r", "FLUSHALL", "ASYNC"),
		one("r", "FLUSHDB"),
		one("r", "flushdb", "sync"),
		one("o", "COPY", "k", "tB:victim"),
		one("o", "COPY", "k", "victim", "DB", "1", "REPLACE"),
		one("o", "RENAME", "k", "tB:victim"),
		one("o", "RENAMENX", "tA-list", "victim"),
		one("o", "SMOVE", "tA-set", "tB:set", "1"),
		one("o", "SMOVE", "tB:set", "tA-set", "2"),
		one("o", "LMOVE", "tA-list", "tB:list", "LEFT", "RIGHT"),
		one("o", "RPOPLPUSH", "list", "tB:list"),
		one("o", "BLMOVE", "tA-list", "tB:list", "LEFT", "RIGHT", "0.01"),
		one("o", "BLMOVE", "tB:list", "list", "LEFT", "RIGHT", "0.01"),
		one("o", "BLMPOP", "0.01", "2", "tB:list", "list", "LEFT"),
		one("o", "BZPOPMIN", "tB:zset", "0.01"),
		one("r", "MIGRATE", "127.0.0.1", port, "", "0", "100", "KEYS", "tB:victim"),
		one("r", "MIGRATE", "127.0.0.1", port, "victim", "0", "100", "COPY", "REPLACE"),
		{[][]string{{"SELECT", "1"}, {"DEL", "tB:victim", "victim"}}, "ro"},
		{[][]string{{"MULTI"}, {"DEL", "tB:victim"}, {"EXEC"}}, "ooo"},
		{[][]string{{"MULTI"}, {"SELECT", "1"}, {"DEL", "victim"}, {"SWAPDB", "0", "1"}, {"EXEC"}}, "oror?"},
		one("o", "OBJECT", "ENCODING", "tB:victim"),
		one("?", "OBJECT", "FREQ", "tB:victim"),
		one("r", "DEBUG", "OBJECT", "victim"),
		one("r", "DEBUG", "RELOAD"),
		one("r", "DEBUG", "SET-ACTIVE-EXPIRE", "0"),
		one("r", "CLUSTER", "INFO"),
		one("r", "CLUSTER", "GETKEYSINSLOT", "0", "10"),
		one("r", "CLUSTER", "FLUSHSLOTS"),
		one("r", "SCRIPT", "FLUSH"),
		one("r", "SCRIPT", "FLUSH", "ASYNC"),
		one("r", "FUNCTION", "FLUSH"),
		one("r", "FUNCTION", "DELETE", "tBlib"),
		one("r", "FUNCTION", "RESTORE", "x", "FLUSH"),
		one("r", "RANDOMKEY"),
		one("r", "DBSIZE"),
		one("r", "MONITOR"),
		one("r", "CONFIG", "SET", "notify-keyspace-events", ""),
		one("?", "RESTORE-ASKING", "victim", "0", "x", "REPLACE"),
		one("o", "DEL", "tB:victim", "victim", "k1", "list", "streams"),
		one("o", "UNLINK", "tB:victim", "victim"),
		one("o", "EXPIRE", "victim", "1"),
		one("o", "MSET", "victim", "x", "tB:victim", "x"),
		one("o", "BITOP", "AND", "victim", "k", "k1"),
		one("o", "ZUNIONSTORE", "victim", "1", "geo"),
		one("o", "PFMERGE", "tB:hll", "tB:hll"),
		// A destination and no source: Redis's key specs find no key in it (COMMAND
		// GETKEYS PFMERGE x: "Invalid arguments"), yet the command writes the destination.
		one("o", "PFMERGE", "tB:hll"),
		one("o", "PFMERGE", "x"),
		one("o", "SINTERSTORE", "tB:set", "tA-set"),
		one("o", "XCLAIM", "tB:stream", "streams", "c", "0", "1-1"),
		one("o", "XTRIM", "tB:stream", "MAXLEN", "0"),
		one("?", "SET", "tB:victim", "x", "GET"),
	}
}

// kind is how an attacker sends a command.
type kind int

const (
	kindShared   kind = iota // answers once, at once, with no state: one connection for all
	kindOwn                  // may change the connection's state: a connection of its own
	kindBlocking             // may block: a connection of its own, waited for a short while
)

// kindOf tells how to send args, from the command model. It decides only how long to
// wait and which connection to use; the witness is the server's.
func kindOf(args []string) kind {
	c, ok := command.Lookup([]byte(args[0]))
	if !ok {
		return kindOwn
	}
	if _, blocks := c.BlockTimeout(argsOf(args)); blocks {
		return kindBlocking
	}
	if command.Shareable(argsOf(args)) {
		return kindShared
	}
	return kindOwn
}

// result is an invocation and what it got.
type result struct {
	args  []string
	sent  int // commands written
	reply resp.Value
	err   error // no reply in time, or the connection closed
}

func (r *result) String() string {
	if r.err != nil {
		return fmt.Sprintf("%q (no reply: %v)", r.args, r.err)
	}
	return fmt.Sprintf("%q (reply %s)", r.args, r.reply)
}

// escaper is the attack on one proxy, with the witness and its bookkeeping.
type escaper struct {
	t                     *testing.T
	proxyAddr, serverAddr string
	w                     *cmdgen.Watcher
	dbs                   map[string]*proxytest.Client // direct to the server, by database
	shared                conn                         // the proxy connection for kindShared
	before                map[string]keyState          // "db:key" of otherKeys
	sha                   string                       // of tBscript
	lastLabel             string                       // the last batch checked
	last                  []*result                    // and its invocations

	sent, refused, ok, failed, silent int
}

// server returns a direct connection to the server, in database db ("0").
func (e *escaper) server(db string) *proxytest.Client {
	c := e.dbs[db]
	if c == nil {
		c = proxytest.Dial(e.t, e.serverAddr)
		if v := c.Do("SELECT", db); v.IsError() {
			e.t.Fatalf("SELECT %s: %s", db, v.Str)
		}
		e.dbs[db] = c
	}
	return c
}

// pipeline sends cmds directly to the server, in database db, and returns the replies;
// an error reply fails the test.
func (e *escaper) pipeline(db string, cmds [][]string) []resp.Value {
	e.t.Helper()
	c := e.server(db)
	c.Send(cmds...)
	out := make([]resp.Value, len(cmds))
	for i, cmd := range cmds {
		out[i] = c.Read()
		if out[i].IsError() {
			e.t.Fatalf("server, db %s: %q: %s", db, cmd, out[i].Str)
		}
	}
	return out
}

// setup stores the keys of otherKeys in databases 0 and 1, tenant B's function library
// and script, and the tenant's data, and records the state of otherKeys.
func (e *escaper) setup() {
	e.t.Helper()
	for _, db := range []string{"0", "1"} {
		var cmds [][]string
		for _, k := range otherKeys {
			cmds = append(cmds, []string{"DEL", k.name})
			cmds = append(cmds, k.setup(k.name)...)
		}
		e.pipeline(db, cmds)
	}
	r := e.pipeline("0", [][]string{{"FUNCTION", "LOAD", "REPLACE", tBlib}, {"SCRIPT", "LOAD", tBscript}})
	e.sha = string(r[1].Str)
	e.before = e.states()
	e.w.Touched() // the setup
	e.seedTenant()
}

// seedTenant stores the tenant's data afresh (through the server: they are keys under
// tenantA), so that the commands that follow find keys to act on, and discards the
// notifications of everything before. It checks on the way that the witness still
// works: the notifications of the seeding must be there.
func (e *escaper) seedTenant() {
	e.t.Helper()
	e.touched("late, after "+e.lastLabel, e.last) // what the last batch did after its checkpoint
	var cmds [][]string
	for _, k := range append(slices.Clone(otherKeys), ownKeys...) {
		cmds = append(cmds, []string{"DEL", tenantA + k.name})
		cmds = append(cmds, k.setup(tenantA+k.name)...)
	}
	e.pipeline("0", cmds)
	if got := e.touched("seeding, after "+e.lastLabel, e.last); !slices.Contains(got, "0:"+tenantA+"tB:victim") {
		e.t.Fatalf("the keyspace notifications of the seeding are missing (%q): the witness is blind", got)
	}
}

// keyState is what DUMP and PTTL say of a key.
type keyState struct {
	exists bool
	dump   string
	ttl    bool // has an expiry
}

// states returns the state of every key of otherKeys, by "db:key".
func (e *escaper) states() map[string]keyState {
	e.t.Helper()
	m := map[string]keyState{}
	for _, db := range []string{"0", "1"} {
		var cmds [][]string
		for _, k := range otherKeys {
			cmds = append(cmds, []string{"DUMP", k.name}, []string{"PTTL", k.name})
		}
		r := e.pipeline(db, cmds)
		for i, k := range otherKeys {
			d, ttl := r[2*i], r[2*i+1]
			m[db+":"+k.name] = keyState{exists: !d.IsNull(), dump: string(d.Str), ttl: ttl.Int >= 0}
		}
	}
	return m
}

// checkpoint checks what the invocations of batch (labelled label) did: every key the
// witness saw modified is the tenant's, and tenant B's and the unprefixed keys, B's
// library and script, are as they were. What is wrong is reported, then repaired.
func (e *escaper) checkpoint(label string, batch []*result) {
	e.t.Helper()
	e.lastLabel, e.last = label, batch
	e.touched(label, batch)
	repaired := false
	now := e.states()
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if now[k] == e.before[k] {
			continue
		}
		e.t.Errorf("%s: %s changed (exists %v, expiry %v; was exists %v), by one of:\n%s",
			label, k, now[k].exists, now[k].ttl, e.before[k].exists, describe(batch, k))
		db, name, _ := strings.Cut(k, ":")
		cmds := [][]string{{"DEL", name}}
		if e.before[k].exists {
			cmds = append(cmds, []string{"RESTORE", name, "0", e.before[k].dump})
		}
		e.pipeline(db, cmds)
		repaired = true
	}
	r := e.pipeline("0", [][]string{{"FUNCTION", "LIST", "LIBRARYNAME", "tBlib"}, {"SCRIPT", "EXISTS", e.sha}})
	if len(r[0].Elems) != 1 {
		e.t.Errorf("%s: tenant B's function library is gone, by one of:\n%s", label, describe(batch, ""))
		e.pipeline("0", [][]string{{"FUNCTION", "LOAD", "REPLACE", tBlib}})
		repaired = true
	}
	if len(r[1].Elems) != 1 || r[1].Elems[0].Int != 1 {
		e.t.Errorf("%s: tenant B's script is gone, by one of:\n%s", label, describe(batch, ""))
		e.pipeline("0", [][]string{{"SCRIPT", "LOAD", tBscript}})
		repaired = true
	}
	if repaired {
		e.w.Touched() // the repairs
	}
}

// touched asks the witness which keys were modified since it was last asked, reports
// those outside the tenant's namespace (deleting them, unless they are keys of
// otherKeys, which checkpoint repairs), and returns them all.
func (e *escaper) touched(label string, batch []*result) []string {
	e.t.Helper()
	keys := e.w.Touched()
	repaired := false
	for _, k := range keys {
		db, name, _ := strings.Cut(k, ":")
		if strings.HasPrefix(name, tenantA) {
			continue
		}
		e.t.Errorf("%s: %s was modified, outside the namespace %q, by one of:\n%s", label, k, tenantA, describe(batch, k))
		if _, ours := e.before[k]; !ours {
			e.server(db).Do("DEL", name)
			repaired = true
		}
	}
	if repaired {
		e.w.Touched() // the repairs
	}
	return keys
}

// describe lists the invocations of batch, those that name key ("db:key") first.
func describe(batch []*result, key string) string {
	_, name, _ := strings.Cut(key, ":")
	var named, others []string
	for _, r := range batch {
		if name != "" && slices.ContainsFunc(r.args, func(a string) bool { return strings.Contains(a, name) }) {
			named = append(named, "\t"+r.String())
		} else {
			others = append(others, "\t"+r.String())
		}
	}
	if len(named) > 0 {
		return strings.Join(named, "\n")
	}
	return strings.Join(others, "\n")
}

// count records the outcome of one command.
func (e *escaper) count(v resp.Value, err error) {
	switch {
	case err != nil:
		e.silent++
	case refusedByNamespace(v):
		e.refused++
	case v.IsError():
		e.failed++
	default:
		e.ok++
	}
}

func refusedByNamespace(v resp.Value) bool {
	return v.IsError() && (strings.Contains(string(v.Str), "not allowed in a key namespace") ||
		strings.HasPrefix(string(v.Str), "NOPERM no key namespace"))
}

// runShared sends args on the connection of the commands that answer at once.
func (e *escaper) runShared(args []string) *result {
	if e.shared.Client == nil {
		e.shared = e.dial()
	}
	r := &result{args: args}
	e.sent++
	r.sent = 1
	r.reply, r.err = e.shared.do(args, time.Now().Add(replyWait))
	e.count(r.reply, r.err)
	if r.err != nil {
		e.t.Logf("%q: no reply within %v (%v): a new connection for the next", args, replyWait, r.err)
		e.shared.close()
		e.shared = conn{}
	}
	return r
}

// runParallel sends each invocation on a new connection, all at once, and reads one
// reply of each until wait has passed, then closes the connections.
func (e *escaper) runParallel(batch []*result, wait time.Duration) {
	conns := make([]conn, len(batch))
	for i, r := range batch {
		conns[i] = e.dial()
		r.sent = 1
		e.sent++
		r.err = conns[i].send(r.args)
	}
	deadline := time.Now().Add(wait)
	for i, r := range batch {
		if r.err == nil {
			r.reply, r.err = conns[i].ReadBefore(deadline)
		}
		e.count(r.reply, r.err)
		conns[i].close()
	}
}

// runSequence sends cmds in order on a new connection, each after the reply to the
// one before, and checks each outcome against want. The blocking commands of the known
// attempts have short timeouts: every reply is waited for as long as replyWait.
func (e *escaper) runSequence(cmds [][]string, want string) []*result {
	e.t.Helper()
	c := e.dial()
	defer c.close()
	var out []*result
	for i, args := range cmds {
		r := &result{args: args, sent: 1}
		e.sent++
		r.reply, r.err = c.do(args, time.Now().Add(replyWait))
		e.count(r.reply, r.err)
		out = append(out, r)
		switch w := want[i]; {
		case w == 'r' && !refusedByNamespace(r.reply):
			e.t.Errorf("%q: %s, want it refused by the namespace", cmds, r)
		case w == 'o' && (r.err != nil || r.reply.IsError()):
			e.t.Errorf("%q: %s, want it to succeed (else the attempt proves nothing)", cmds, r)
		}
		if r.err != nil {
			break
		}
	}
	return out
}

// final checks the whole server at the end: the witness still works, and every key of
// every database is the tenant's or one of otherKeys.
func (e *escaper) final() {
	e.t.Helper()
	e.touched("late, after "+e.lastLabel, e.last)
	e.pipeline("0", [][]string{{"SET", "canary", "1"}, {"DEL", "canary"}})
	if got := e.w.Touched(); !slices.Equal(got, []string{"0:canary"}) {
		e.t.Errorf("the witness saw %q of a SET and a DEL of canary: it is blind", got)
	}
	info := string(e.server("0").Do("INFO", "keyspace").Str)
	for _, line := range strings.Split(info, "\n") {
		db, ok := strings.CutPrefix(line, "db")
		if !ok {
			continue
		}
		db, _, _ = strings.Cut(db, ":")
		keys := e.server(db).Do("KEYS", "*")
		for _, k := range keys.Elems {
			if _, ours := e.before[db+":"+string(k.Str)]; !ours && !strings.HasPrefix(string(k.Str), tenantA) {
				e.t.Errorf("database %s holds %q, outside the namespace", db, k.Str)
			}
		}
	}
}

// conn is a raw client connection to the proxy whose reads have a deadline, so that a
// command that blocks, or gets no reply, does not hang the attacker.
type conn struct{ *proxytest.Client }

func (e *escaper) dial() conn { return conn{proxytest.Dial(e.t, e.proxyAddr)} }

func (c conn) close() { c.Conn().Close() }

// send writes a command, failing as the connection does rather than the test: a command
// may have made the proxy close it.
func (c conn) send(args []string) error {
	_ = c.Conn().SetWriteDeadline(time.Now().Add(replyWait))
	_, err := c.Conn().Write(resp.NewCommand(args...).AppendTo(nil))
	return err
}

func (c conn) do(args []string, deadline time.Time) (resp.Value, error) {
	if err := c.send(args); err != nil {
		return resp.Value{}, err
	}
	return c.ReadBefore(deadline)
}
