package command

//go:generate go run ./gen -out table_gen.go

// Info describes one Redis command, or one subcommand of a container command such as
// CLIENT or OBJECT, as Redis declares it (COMMAND INFO) and as a proxy must treat it: its
// arity, flags, key positions, command tips, and its routing class. Infos are read-only
// values shared by every goroutine; the table's are generated from Redis's own command
// files (see gen/), and [Learn] adds those a server knows beyond them.
type Info struct {
	// Name is the command's name in lower case: "get", or "client|kill" for a
	// subcommand, as COMMAND INFO gives it.
	Name string
	// Arity is Redis's arity: the number of arguments, name included (and the
	// subcommand's name for a subcommand), or -N for "at least N".
	Arity int
	// Since is the Redis version that introduced the command; empty for a learned one.
	Since string
	// Flags are the command's flags.
	Flags Flags
	// ACL are the ACL categories Redis puts the command in explicitly (the implied
	// ones, such as @write for a command flagged write, are not listed).
	ACL Categories
	// Request and Response are the command tips of Redis Cluster: how a client that
	// spreads commands over shards sends this one (to one shard, to every shard...) and
	// how it merges the replies.
	Request  Request
	Response Response
	// Class is how a proxy routes the command: see [Class]. A container's class is
	// Local (a proxy answers its arity and unknown-subcommand errors); its subcommands
	// have their own. [Info.ClassOf] refines it for the commands whose class depends on
	// their arguments.
	Class Class
	// Effect is what the command does to the state of the connection it runs on; see
	// [Effect].
	Effect Effect
	// Scope says whether the command reaches only the keys it names (and the patterns
	// it matches), or more: see [Scope].
	Scope Scope
	// Patterns says what kind of key patterns the command's arguments hold, if any:
	// KEYS and SCAN MATCH globs, SORT BY and GET patterns. See [Info.PatternArgs].
	Patterns PatternKind
	// ReplyKeys says where the command's reply names keys, if it does.
	ReplyKeys ReplyShape
	// Channels is the kind of channels a command of EffectSubscribe or
	// EffectUnsubscribe (un)subscribes.
	Channels ChannelKind

	specs      []keySpec
	subs       []Info
	proc       proc
	timeout    timeoutArg // where a blocking command's timeout is
	subscribed bool       // allowed while a RESP2 client is subscribed
	immediate  bool       // run at once inside a transaction, not queued
	script     bool       // runs a script, which may take long (EVAL, FCALL)
	fast       fastKeys   // the key positions of a command with one simple key spec
}

// Flags is a set of command flags, from COMMAND INFO.
type Flags uint32

// The flags of Redis 7 (MovableKeys is computed from the key specs, as Redis does).
const (
	Write                Flags = 1 << iota // may modify the keyspace
	ReadOnly                               // reads keys, never modifies them
	DenyOOM                                // may use more memory: refused when Redis is out of memory
	Admin                                  // administrative: CONFIG, DEBUG, SHUTDOWN, CLIENT KILL, ...
	PubSub                                 // publish/subscribe
	NoScript                               // not allowed in scripts
	Blocking                               // may block the connection (BLPOP, XREAD BLOCK, ...)
	Loading                                // allowed while the database loads
	Stale                                  // allowed on a replica with stale data
	Fast                                   // O(1) or O(log N)
	NoAuth                                 // allowed before authentication
	MayReplicate                           // may be propagated to replicas
	NoMulti                                // not allowed in MULTI
	MovableKeys                            // key positions depend on the arguments
	NoMandatoryKeys                        // may be called without any key
	AllowBusy                              // allowed while a script is busy
	NoAsyncLoading                         // refused while the database loads asynchronously
	SkipMonitor                            // not shown to MONITOR
	SkipSlowlog                            // not logged in the slow log
	Asking                                 // runs as if ASKING was sent (RESTORE-ASKING)
	Protected                              // refused unless enabled by configuration (DEBUG, MODULE)
	TouchesArbitraryKeys                   // may touch keys it does not name (RANDOMKEY, SCAN)
	Module                                 // a module's command (learned)
)

// Has reports whether f holds every flag of g.
func (f Flags) Has(g Flags) bool { return f&g == g }

// flagNames are Redis's words for Flags, as COMMAND INFO writes them.
var flagNames = []struct {
	name string
	flag Flags
}{
	{"write", Write}, {"readonly", ReadOnly}, {"denyoom", DenyOOM}, {"admin", Admin},
	{"pubsub", PubSub}, {"noscript", NoScript}, {"blocking", Blocking}, {"loading", Loading},
	{"stale", Stale}, {"fast", Fast}, {"no_auth", NoAuth}, {"may_replicate", MayReplicate},
	{"no_multi", NoMulti}, {"movablekeys", MovableKeys}, {"no_mandatory_keys", NoMandatoryKeys},
	{"allow_busy", AllowBusy}, {"no_async_loading", NoAsyncLoading}, {"skip_monitor", SkipMonitor},
	{"skip_slowlog", SkipSlowlog}, {"asking", Asking}, {"protected", Protected},
	{"touches_arbitrary_keys", TouchesArbitraryKeys}, {"module", Module},
}

// String returns the flags as Redis names them, separated by spaces.
func (f Flags) String() string {
	var b []byte
	for _, n := range flagNames {
		if f&n.flag != 0 {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = append(b, n.name...)
		}
	}
	return string(b)
}

// Categories is a set of ACL categories.
type Categories uint32

// The ACL categories of Redis 7.
const (
	CatKeyspace Categories = 1 << iota
	CatRead
	CatWrite
	CatSet
	CatSortedSet
	CatList
	CatHash
	CatString
	CatBitmap
	CatHyperLogLog
	CatGeo
	CatStream
	CatPubSub
	CatAdmin
	CatFast
	CatSlow
	CatBlocking
	CatDangerous
	CatConnection
	CatTransaction
	CatScripting
)

// categoryNames are Redis's words for Categories, without the '@'.
var categoryNames = []struct {
	name string
	cat  Categories
}{
	{"keyspace", CatKeyspace}, {"read", CatRead}, {"write", CatWrite}, {"set", CatSet},
	{"sortedset", CatSortedSet}, {"list", CatList}, {"hash", CatHash}, {"string", CatString},
	{"bitmap", CatBitmap}, {"hyperloglog", CatHyperLogLog}, {"geo", CatGeo}, {"stream", CatStream},
	{"pubsub", CatPubSub}, {"admin", CatAdmin}, {"fast", CatFast}, {"slow", CatSlow},
	{"blocking", CatBlocking}, {"dangerous", CatDangerous}, {"connection", CatConnection},
	{"transaction", CatTransaction}, {"scripting", CatScripting},
}

// String returns the categories as Redis names them ("@read @string"), separated by
// spaces.
func (c Categories) String() string {
	var b []byte
	for _, n := range categoryNames {
		if c&n.cat != 0 {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = append(b, '@')
			b = append(b, n.name...)
		}
	}
	return string(b)
}

// Request is a command's request policy (a Redis command tip): where a client of a
// Redis Cluster sends it.
type Request uint8

// The request policies of Redis's command tips.
const (
	// ByKeys (no tip): to the shard of its keys; a keyless command to any shard.
	ByKeys Request = iota
	// AllNodes: to every node, replicas included (CONFIG SET, SCRIPT LOAD).
	AllNodes
	// AllShards: to every primary (KEYS, DBSIZE, FLUSHALL).
	AllShards
	// MultiShard: split by the shards of its keys (MGET, MSET, DEL).
	MultiShard
	// RequestSpecial: a policy of its own (SCAN).
	RequestSpecial
)

var requestNames = [...]string{"", "all_nodes", "all_shards", "multi_shard", "special"}

// String returns the policy as Redis's tip writes it ("all_shards"), or "" for ByKeys.
func (r Request) String() string {
	if int(r) < len(requestNames) {
		return requestNames[r]
	}
	return "request(?)"
}

// Response is a command's response policy (a Redis command tip): how the replies of the
// shards a command was sent to make one reply.
type Response uint8

// The response policies of Redis's command tips.
const (
	// ResponseDefault (no tip): arrays are concatenated (KEYS); a command split by
	// keys gets its values back in key order (MGET).
	ResponseDefault Response = iota
	// OneSucceeded: the first reply that is not an error (SCRIPT KILL).
	OneSucceeded
	// AllSucceeded: an error if any shard answers one, else any shard's reply.
	AllSucceeded
	// AggLogicalAnd and AggLogicalOr: integers combined element by element.
	AggLogicalAnd
	AggLogicalOr
	// AggMin, AggMax, AggSum: integers combined (element by element for arrays).
	AggMin
	AggMax
	AggSum
	// ResponseSpecial: a merge of its own (INFO, SCAN, RANDOMKEY).
	ResponseSpecial
)

var responseNames = [...]string{"", "one_succeeded", "all_succeeded", "agg_logical_and",
	"agg_logical_or", "agg_min", "agg_max", "agg_sum", "special"}

// String returns the policy as Redis's tip writes it ("agg_sum"), or "" for the default.
func (r Response) String() string {
	if int(r) < len(responseNames) {
		return responseNames[r]
	}
	return "response(?)"
}

// maxName is the longest command name Lookup considers; longer names are not commands.
const maxName = 64

// Lookup returns the command called name, ignoring case: one of the table, or else one
// that [Learn] added. It does not allocate and takes no lock. For a container command
// (CLIENT, OBJECT, ...) it returns the container; [Info.Resolve] finds the subcommand.
func Lookup(name []byte) (*Info, bool) {
	if len(name) > maxName {
		return nil, false
	}
	h := nameHash(name)
	for {
		i := hashed[h&hashMask]
		if i == 0 {
			break
		}
		if c := &table[i-1]; equalFold(c.Name, name) {
			return c, true
		}
		h++
	}
	var buf [maxName]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return lookupLearned(buf[:len(name)])
}

// hashed indexes the table by nameHash, open addressing with linear probing: the index
// in table plus one, 0 for an empty place. It is 4 times as big as the table, so that a
// lookup reads one place or two; a map costs twice as much for names this short.
var hashed = func() (h [hashMask + 1]uint16) {
	if 4*len(table) > len(h) {
		panic("command: the lookup index is too small for the table")
	}
	for i := range table {
		p := nameHash([]byte(table[i].Name))
		for h[p&hashMask] != 0 {
			p++
		}
		h[p&hashMask] = uint16(i + 1)
	}
	return h
}()

const hashMask = 1023

// nameHash is FNV-1a of name in lower case.
func nameHash(name []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// LookupArgs returns the command or subcommand that args (name first) invoke, as Redis
// finds it: for a container given a subcommand name, that subcommand, or ok false when
// the container has none of that name (Redis's "unknown subcommand"); for any other
// command, the command itself.
func LookupArgs(args [][]byte) (c *Info, ok bool) {
	if len(args) == 0 {
		return nil, false
	}
	c, ok = Lookup(args[0])
	if !ok || len(c.subs) == 0 || len(args) == 1 {
		return c, ok
	}
	return c.Subcommand(args[1])
}

// Commands returns every top-level command of the table, in name order. The result is
// shared: do not modify it.
func Commands() []Info { return table[:] }

// Subcommands returns the subcommands of a container command (nil for others), in name
// order. The result is shared: do not modify it.
func (c *Info) Subcommands() []Info { return c.subs }

// Container reports whether c is a container command (CLIENT, OBJECT, ...).
func (c *Info) Container() bool { return len(c.subs) > 0 }

// Subcommand returns the subcommand of c called name ("encoding" for OBJECT ENCODING),
// ignoring case. It does not allocate.
func (c *Info) Subcommand(name []byte) (*Info, bool) {
	prefix := len(c.Name) + 1 // "object|"
	for i := range c.subs {
		s := &c.subs[i]
		if len(s.Name)-prefix == len(name) && equalFold(s.Name[prefix:], name) {
			return s, true
		}
	}
	return nil, false
}

// Resolve returns the command that args (name first) invoke: the subcommand named by
// args[1] when c is a container and has it, else c. See also [LookupArgs], which tells
// an unknown subcommand apart.
func (c *Info) Resolve(args [][]byte) *Info {
	if len(c.subs) > 0 && len(args) > 1 {
		if s, ok := c.Subcommand(args[1]); ok {
			return s
		}
	}
	return c
}

// HasKeys reports whether the command, or any of its subcommands, can take key
// arguments (channels are not keys).
func (c *Info) HasKeys() bool {
	if c.proc != procNone {
		return true
	}
	for _, s := range c.specs {
		if s.flags&specNotKey == 0 {
			return true
		}
	}
	for i := range c.subs {
		if c.subs[i].HasKeys() {
			return true
		}
	}
	return false
}

// equalFold reports whether s and b are equal, ignoring ASCII case. s is lower case.
func equalFold(s string, b []byte) bool {
	if len(s) != len(b) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if s[i] != c {
			return false
		}
	}
	return true
}
