package proxytest

import (
	"bytes"
	"math/rand/v2"
	"strconv"
)

// Kind is a kind of commands in the mix that Conformance sends (Suite.Mix). Every
// connection works on keys and channels of its own, so its replies do not depend on the
// other connections.
type Kind int

// The kinds of commands of a mix.
const (
	// Reads: GET, EXISTS, STRLEN, GETRANGE, LRANGE, HGETALL, SMEMBERS, ZRANGE WITHSCORES,
	// ZSCORE and TYPE of the connection's keys (missing ones too).
	Reads Kind = iota + 1
	// Writes: SET (plain, NX and GET), INCR, INCRBY, APPEND, LPUSH, RPUSH, LPOP, HSET,
	// HDEL, SADD, SREM, ZADD, DEL and PEXPIRE.
	Writes
	// MultiKey: MSET, MGET, EXISTS and DEL of several keys, SUNION, RENAME, LMOVE, and
	// KEYS of the connection's keys. The keys of a connection share a hash tag, so that
	// they are in one cluster slot.
	MultiKey
	// Blocking: BLPOP and BRPOP of empty lists with a 10ms timeout (a null reply; twice
	// per connection at most, as Redis takes up to 100ms to time them out), and LPUSH
	// then BLPOP, or BLMOVE and BRPOP, of the element pushed.
	Blocking
	// Transactions: MULTI ... EXEC (one with a command that fails in EXEC), WATCH ...
	// MULTI ... EXEC, MULTI ... DISCARD, and WATCH then UNWATCH.
	Transactions
	// PubSub: SUBSCRIBE of two channels, PING while subscribed, UNSUBSCRIBE of both;
	// PSUBSCRIBE and PUNSUBSCRIBE; UNSUBSCRIBE while subscribed to nothing; PUBLISH to a
	// channel nobody listens to. On a RESP3 connection also SUBSCRIBE and PSUBSCRIBE,
	// PUBLISH to both from the same connection, and a GET while subscribed: the messages
	// come as pushes, which are compared as well.
	PubSub
	// LargeValues: SET, GET, STRLEN and GETRANGE of values of 256 KiB to 2 MiB (one
	// for every 100 commands of a connection; STRLEN and GETRANGE of the last beyond).
	LargeValues
	// RESP3: every other connection starts with HELLO 3 and runs the mix's other kinds
	// (Reads and Writes when there are none) in RESP3; its replies are compared as RESP3.
	RESP3
)

// AllKinds is every kind of commands, for a middleware that should take any command.
var AllKinds = []Kind{Reads, Writes, MultiKey, Blocking, Transactions, PubSub, LargeValues, RESP3}

var kindNames = [...]string{"", "Reads", "Writes", "MultiKey", "Blocking", "Transactions", "PubSub", "LargeValues", "RESP3"}

// String returns the kind's name, as in the constants ("Reads").
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// step is one command of a script and how its reply is compared.
type step struct {
	kind      Kind
	args      []string
	frames    int  // replies the command gets (an (un)subscription of n channels: n); 0: 1
	unordered bool // the reply's elements are compared as a set (KEYS, SMEMBERS)
	loose     bool // only the reply's type is compared (HELLO: ids and versions differ)
}

// script is what one connection sends: rounds of pipelined commands, each round sent
// once the replies of the one before have come.
type script struct {
	resp3  bool
	rounds [][]step
}

// newScript returns the script of connection conn: about n commands of the kinds of mix,
// on keys and channels named after tag and conn. The same mix, conn and n give the same
// script whatever the tag.
func newScript(mix []Kind, conn, n int, tag string) script {
	g := &gen{rng: rand.New(rand.NewPCG(uint64(conn), 0x5eed)), base: tag + "." + strconv.Itoa(conn),
		timeouts: 2, large: max(1, n/100)}
	var kinds []Kind
	for _, k := range mix {
		if k == RESP3 {
			g.resp3 = conn%2 == 1
		} else {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		kinds = []Kind{Reads, Writes}
	}
	sc := script{resp3: g.resp3}
	if g.resp3 {
		sc.rounds = append(sc.rounds, []step{{kind: RESP3, args: []string{"HELLO", "3"}, loose: true}})
	}
	for sent := 0; sent < n; {
		var r []step
		for range 1 + g.rng.IntN(3) {
			k := kinds[g.rng.IntN(len(kinds))]
			for _, st := range snippets[k](g) {
				st.kind = k
				r = append(r, st)
			}
		}
		sc.rounds = append(sc.rounds, r)
		sent += len(r)
	}
	// One more round trip: a second reply to any command above would show up here.
	sc.rounds = append(sc.rounds, []step{cmd("ECHO", "last")})
	return sc
}

// gen draws the commands of one script.
type gen struct {
	rng   *rand.Rand
	base  string // tag and connection: every key and channel holds it
	resp3 bool
	// timeouts and large are the blocking commands that time out, and the large values,
	// the script may still send: they are slow.
	timeouts, large int
}

// key returns the connection's key called name; the hash tag keeps a connection's keys in
// one cluster slot.
func (g *gen) key(name string) string { return "{" + g.base + "}" + name }

// channel returns the connection's channel (or pattern) called name.
func (g *gen) channel(name string) string { return "ch." + g.base + "." + name }

// pick returns one of names.
func (g *gen) pick(names ...string) string { return names[g.rng.IntN(len(names))] }

// str returns the key of a string, chosen at random.
func (g *gen) str() string { return g.key(g.pick("s0", "s1", "s2")) }

// val returns a short value.
func (g *gen) val() string { return "v" + strconv.Itoa(g.rng.IntN(1000)) }

// num returns a small number, as text.
func (g *gen) num() string { return strconv.Itoa(g.rng.IntN(100)) }

// some returns 1 to 4 commands drawn from fns.
func (g *gen) some(fns ...func() step) []step {
	out := make([]step, 1+g.rng.IntN(4))
	for i := range out {
		out[i] = fns[g.rng.IntN(len(fns))]()
	}
	return out
}

// cmd is a step of args, compared exactly.
func cmd(args ...string) step { return step{args: args} }

// snippets draw a few commands of each kind. Each leaves the connection as it found it
// (no transaction open, nothing subscribed), so that any order of snippets is valid.
var snippets = map[Kind]func(g *gen) []step{
	Reads: func(g *gen) []step {
		return g.some(
			func() step { return cmd("GET", g.str()) },
			func() step { return cmd("EXISTS", g.str()) },
			func() step { return cmd("STRLEN", g.str()) },
			func() step { return cmd("GETRANGE", g.str(), "0", "1") },
			func() step { return cmd("LRANGE", g.key("l0"), "0", "-1") },
			func() step { return cmd("HGETALL", g.key("h0")) },
			func() step { return step{args: []string{"SMEMBERS", g.key("S0")}, unordered: true} },
			func() step { return cmd("ZRANGE", g.key("z0"), "0", "-1", "WITHSCORES") },
			func() step { return cmd("ZSCORE", g.key("z0"), g.pick("a", "b", "c")) },
			func() step { return cmd("TYPE", g.key(g.pick("s0", "l0", "h0", "S0", "z0"))) },
		)
	},
	Writes: func(g *gen) []step {
		return g.some(
			func() step { return cmd("SET", g.str(), g.val()) },
			func() step { return cmd("SET", g.str(), g.val(), "NX") },
			func() step { return cmd("SET", g.str(), g.val(), "GET") },
			func() step { return cmd("INCR", g.key("n0")) },
			func() step { return cmd("INCRBY", g.key("n0"), g.num()) },
			func() step { return cmd("APPEND", g.str(), g.val()) },
			func() step { return cmd(g.pick("LPUSH", "RPUSH"), g.key("l0"), g.val()) },
			func() step { return cmd("LPOP", g.key("l0")) },
			func() step { return cmd("HSET", g.key("h0"), g.pick("f", "g"), g.val()) },
			func() step { return cmd("HDEL", g.key("h0"), g.pick("f", "g")) },
			func() step { return cmd(g.pick("SADD", "SREM"), g.key(g.pick("S0", "S1")), g.val()[:2]) },
			func() step { return cmd("ZADD", g.key("z0"), g.num()+".5", g.pick("a", "b", "c")) },
			func() step { return cmd("DEL", g.str()) },
			func() step { return cmd("PEXPIRE", g.str(), "100000") },
		)
	},
	MultiKey: func(g *gen) []step {
		return g.some(
			func() step { return cmd("MSET", g.key("s0"), g.val(), g.key("s1"), g.val()) },
			func() step { return cmd("MGET", g.key("s0"), g.key("s1"), g.key("s2")) },
			func() step { return cmd("EXISTS", g.key("s0"), g.key("s1"), g.key("l0")) },
			func() step { return cmd("DEL", g.key("s2"), g.key("s1")) },
			func() step { return step{args: []string{"SUNION", g.key("S0"), g.key("S1")}, unordered: true} },
			func() step { return cmd("RENAME", g.key("s0"), g.key("s2")) },
			func() step { return cmd("LMOVE", g.key("l0"), g.key("l1"), "LEFT", "RIGHT") },
			func() step { return step{args: []string{"KEYS", g.key("s*")}, unordered: true} },
		)
	},
	Blocking: func(g *gen) []step {
		switch g.rng.IntN(4) {
		case 0:
			if g.timeouts > 0 {
				g.timeouts--
				return []step{cmd("BLPOP", g.key("b0"), "0.01")}
			}
		case 1:
			if g.timeouts > 0 {
				g.timeouts--
				return []step{cmd("BRPOP", g.key("b0"), g.key("b2"), "0.01")}
			}
		case 2:
			return []step{cmd("LPUSH", g.key("b1"), g.val()), cmd("BLMOVE", g.key("b1"), g.key("b2"), "LEFT", "RIGHT", "1"),
				cmd("BRPOP", g.key("b2"), "1")}
		}
		return []step{cmd("LPUSH", g.key("b1"), g.val()), cmd("BLPOP", g.key("b1"), "1")}
	},
	Transactions: func(g *gen) []step {
		t0, t1 := g.key("t0"), g.key("t1")
		switch g.rng.IntN(4) {
		case 0:
			return []step{cmd("MULTI"), cmd("SET", t0, g.val()), cmd("INCR", t1), cmd("GET", t0), cmd("EXEC")}
		case 1:
			return []step{cmd("MULTI"), cmd("SET", t0, g.val()), cmd("INCR", t0), cmd("EXEC")} // INCR fails in EXEC
		case 2:
			return []step{cmd("WATCH", t0), cmd("GET", t0), cmd("MULTI"), cmd("SET", t0, g.val()), cmd("EXEC")}
		}
		return []step{cmd("MULTI"), cmd("SET", t0, g.val()), cmd("DISCARD"), cmd("WATCH", t1), cmd("UNWATCH"), cmd("GET", t0)}
	},
	PubSub: func(g *gen) []step {
		a, b, p := g.channel("a"), g.channel("b"), g.channel("p*")
		switch g.rng.IntN(4) {
		case 0:
			return []step{{args: []string{"SUBSCRIBE", a, b}, frames: 2}, cmd("PING"), {args: []string{"UNSUBSCRIBE", a, b}, frames: 2}}
		case 1:
			return []step{cmd("PSUBSCRIBE", p), cmd("PUNSUBSCRIBE", p)}
		case 2:
			if g.resp3 {
				return []step{cmd("SUBSCRIBE", a), cmd("PSUBSCRIBE", p), cmd("PUBLISH", a, g.val()),
					cmd("PUBLISH", g.channel("p1"), g.val()), cmd("GET", g.str()), cmd("UNSUBSCRIBE", a), cmd("PUNSUBSCRIBE", p)}
			}
			return []step{cmd("UNSUBSCRIBE"), cmd("PUBLISH", a, g.val())}
		}
		return []step{cmd("PUBLISH", b, g.val())}
	},
	LargeValues: func(g *gen) []step {
		k := g.key("L")
		if g.large == 0 {
			return []step{cmd("STRLEN", k), cmd("GETRANGE", k, "-5", "-1")}
		}
		g.large--
		chunk := make([]byte, 61) // a prime length, so that a cut shows
		for i := range chunk {
			chunk[i] = 'a' + byte(g.rng.IntN(26))
		}
		v := bytes.Repeat(chunk, (256<<10+g.rng.IntN(1792<<10))/len(chunk))
		return []step{cmd("SET", k, string(v)), cmd("GET", k), cmd("STRLEN", k), cmd("GETRANGE", k, "-5", "-1")}
	},
}
