package command

import (
	"strconv"
	"time"
)

// Class is how a proxy routes a command. A proxy's shared server connections carry the
// commands of many clients, their replies matched to them first in, first out: a
// command that changed such a connection's state, or the number of replies it gets,
// would hand one client's replies to another. So only the commands this package knows
// to answer exactly once and to leave no state go there (Shared, EveryShard); every
// other command is routed otherwise, and one it does not know at all (Unclassified) is
// never shared.
type Class uint8

// The classes. See the package doc for which commands take which, and why.
const (
	// Unclassified is the class of a command the model does not know (nor learned
	// from the server): it runs on a server connection of the client's own, which it
	// keeps until it leaves, as for EffectSession, since what it does is not known.
	Unclassified Class = iota
	// Shared commands answer exactly once and touch no connection state: they go
	// over the shared connections (GET, SET, EVAL, CONFIG GET, PUBLISH...).
	Shared
	// EveryShard commands are Shared commands about a whole server (KEYS, DBSIZE,
	// FLUSHALL, SCRIPT LOAD, CONFIG SET...): a backend of several shards sends them to
	// every shard and merges the replies by the command's Response policy; before one
	// Redis they are plain Shared commands.
	EveryShard
	// Dedicated commands need a server connection of the client's own: a transaction,
	// WATCH, SELECT, subscriptions, blocking commands, CLIENT TRACKING, SCRIPT DEBUG,
	// AUTH to the server's users. Effect says what they do to it.
	Dedicated
	// Local commands are answered by the proxy, because they are about the client's
	// connection to the proxy rather than the proxy's to the server: HELLO, RESET,
	// CLIENT ID/SETNAME/INFO/LIST/KILL/REPLY, REPLCONF, READONLY, ASKING, CLUSTER (a
	// proxy presents a standalone server), and the errors Redis gives for a container
	// command without a known subcommand.
	Local
	// Stream commands turn the connection into a stream of the server's: MONITOR,
	// SYNC, PSYNC.
	Stream
	// Control commands are sent on a connection of their own, ahead of whatever the
	// shared connections have queued, to every server of the backend: SCRIPT KILL and
	// FUNCTION KILL (the busy server is found by trying each), FUNCTION STATS, CLIENT
	// UNPAUSE.
	Control
	// Refused commands get an error: SHUTDOWN, as one client of a proxy does not stop
	// the server that every other client shares. (REPLICAOF, FAILOVER, CONFIG SET, ACL
	// SETUSER act on the whole server too, as they do directly: deny them with a
	// middleware, such as rewrite's Deny, where clients must not.)
	Refused
)

var classNames = [...]string{"unclassified", "shared", "every-shard", "dedicated", "local", "stream", "control", "refused"}

// String returns the class's name: "shared", "every-shard", ...
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Effect is what a command routed to a dedicated connection does to that connection's
// state, which decides how long the client keeps it.
type Effect uint8

// The effects.
const (
	// EffectNone: the command holds nothing; the connection is the client's only while
	// it runs (CLIENT GETREDIR, TRACKINGINFO), or the command is not dedicated at all.
	EffectNone Effect = iota
	// EffectMulti opens a transaction (MULTI).
	EffectMulti
	// EffectExec runs it (EXEC) and EffectDiscard drops it (DISCARD); both end the
	// WATCHes.
	EffectExec
	EffectDiscard
	// EffectWatch watches keys (WATCH); EffectUnwatch forgets them (UNWATCH).
	EffectWatch
	EffectUnwatch
	// EffectSelect chooses a database (SELECT).
	EffectSelect
	// EffectSubscribe and EffectUnsubscribe change the connection's subscriptions
	// (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UN-).
	EffectSubscribe
	EffectUnsubscribe
	// EffectBlock: the command may wait for an event before its reply (BLPOP, XREAD
	// BLOCK, WAIT): the connection is the client's until the reply comes.
	EffectBlock
	// EffectSession: the command leaves state the proxy does not follow (CLIENT
	// TRACKING, CLIENT NO-TOUCH, SCRIPT DEBUG, AUTH, DEBUG): the connection is the
	// client's until it leaves or RESETs, and is then closed, never lent again.
	EffectSession
	// EffectProtocol switches the protocol the connection speaks (HELLO with a
	// version): the replies after it come in that protocol.
	EffectProtocol
)

var effectNames = [...]string{"", "multi", "exec", "discard", "watch", "unwatch", "select", "subscribe", "unsubscribe", "block", "session", "protocol"}

// String returns the effect's name ("" for EffectNone).
func (e Effect) String() string {
	if int(e) < len(effectNames) {
		return effectNames[e]
	}
	return "effect(" + strconv.Itoa(int(e)) + ")"
}

// Scope says which keys a command may reach.
type Scope uint8

// The scopes.
const (
	// ScopeKeys: only the keys it names ([Info.Keys]) and those its patterns match
	// ([Info.PatternArgs]).
	ScopeKeys Scope = iota
	// ScopeAll: keys it does not name, or the whole server: FLUSHALL, SWAPDB, DBSIZE,
	// RANDOMKEY, MOVE, SELECT, MIGRATE, MONITOR, SYNC, CLUSTER, FUNCTION, SCRIPT FLUSH,
	// scripts (EVAL and FCALL bodies may name any key). A key namespace refuses them.
	ScopeAll
)

// PatternKind says what kind of key patterns a command's arguments hold.
type PatternKind uint8

// The kinds of key patterns.
const (
	PatternNone PatternKind = iota
	// PatternGlob: glob-style patterns matched against key names (KEYS, SCAN MATCH).
	PatternGlob
	// PatternSort: SORT's BY and GET patterns, key names whose first '*' is replaced
	// by an element (GET # is not a pattern).
	PatternSort
)

// ReplyShape says where a command's reply names keys.
type ReplyShape uint8

// The reply shapes that name keys.
const (
	ReplyNoKeys ReplyShape = iota
	// ReplyKeyArray: an array of keys (KEYS).
	ReplyKeyArray
	// ReplyScan: a cursor and an array of keys (SCAN).
	ReplyScan
	// ReplyFirstKey: an array whose first element is a key (BLPOP, LMPOP, BZPOPMIN...).
	ReplyFirstKey
	// ReplyStreams: an array (a map in RESP3) of stream names and entries (XREAD).
	ReplyStreams
)

// ChannelKind is the kind of channels a (un)subscribe command names.
type ChannelKind uint8

// The kinds of channels.
const (
	NoChannels    ChannelKind = iota
	Channels                  // SUBSCRIBE, UNSUBSCRIBE
	Patterns                  // PSUBSCRIBE, PUNSUBSCRIBE
	ShardChannels             // SSUBSCRIBE, SUNSUBSCRIBE
)

// timeoutArg says where a blocking command's timeout is.
type timeoutArg struct {
	pos     int8 // the index; -1: the last argument; 0: after the keyword BLOCK
	millis  bool // milliseconds rather than seconds
	present bool
}

// rule is what the model says of one command beyond its flags: the exceptions to the
// rules of classify, kept here in one place.
type rule struct {
	class      Class
	effect     Effect
	scope      Scope
	patterns   PatternKind
	reply      ReplyShape
	timeout    timeoutArg
	channels   ChannelKind
	subscribed bool     // allowed while a RESP2 client is subscribed
	immediate  bool     // run at once inside a transaction, not queued
	script     bool     // runs a script, which may take long
	response   Response // the merge of its replies from every shard, where Redis's tips give none
}

var (
	lastSeconds = timeoutArg{pos: -1, present: true}
	blockMillis = timeoutArg{pos: 0, millis: true, present: true}
)

// rules are the commands whose routing their flags do not tell, each with its reason.
var rules = map[string]rule{
	// Transactions, WATCH and SELECT: state of the connection. Inside a transaction,
	// Redis runs MULTI, EXEC, DISCARD, WATCH, QUIT and RESET at once, and queues the
	// others.
	"multi":   {class: Dedicated, effect: EffectMulti, immediate: true},
	"exec":    {class: Dedicated, effect: EffectExec, immediate: true},
	"discard": {class: Dedicated, effect: EffectDiscard, immediate: true},
	"watch":   {class: Dedicated, effect: EffectWatch, immediate: true},
	"unwatch": {class: Dedicated, effect: EffectUnwatch},
	"select":  {class: Dedicated, effect: EffectSelect, scope: ScopeAll},

	// Subscriptions: the server sends messages at any time.
	"subscribe":    {class: Dedicated, effect: EffectSubscribe, channels: Channels, subscribed: true},
	"psubscribe":   {class: Dedicated, effect: EffectSubscribe, channels: Patterns, subscribed: true},
	"ssubscribe":   {class: Dedicated, effect: EffectSubscribe, channels: ShardChannels, subscribed: true},
	"unsubscribe":  {class: Dedicated, effect: EffectUnsubscribe, channels: Channels, subscribed: true},
	"punsubscribe": {class: Dedicated, effect: EffectUnsubscribe, channels: Patterns, subscribed: true},
	"sunsubscribe": {class: Dedicated, effect: EffectUnsubscribe, channels: ShardChannels, subscribed: true},
	"ping":         {class: Shared, subscribed: true}, // not every shard: one answer is enough
	"quit":         {class: Local, subscribed: true, immediate: true},
	"reset":        {class: Local, subscribed: true, immediate: true},

	// Blocking commands: the connection waits for an event. (The Blocking flag says so
	// too; the timeouts are here.)
	"blpop":      {class: Dedicated, effect: EffectBlock, timeout: lastSeconds, reply: ReplyFirstKey},
	"brpop":      {class: Dedicated, effect: EffectBlock, timeout: lastSeconds, reply: ReplyFirstKey},
	"brpoplpush": {class: Dedicated, effect: EffectBlock, timeout: lastSeconds},
	"blmove":     {class: Dedicated, effect: EffectBlock, timeout: lastSeconds},
	"bzpopmin":   {class: Dedicated, effect: EffectBlock, timeout: lastSeconds, reply: ReplyFirstKey},
	"bzpopmax":   {class: Dedicated, effect: EffectBlock, timeout: lastSeconds, reply: ReplyFirstKey},
	"blmpop":     {class: Dedicated, effect: EffectBlock, timeout: timeoutArg{pos: 1, present: true}, reply: ReplyFirstKey},
	"bzmpop":     {class: Dedicated, effect: EffectBlock, timeout: timeoutArg{pos: 1, present: true}, reply: ReplyFirstKey},
	"wait":       {class: Dedicated, effect: EffectBlock, timeout: timeoutArg{pos: 2, millis: true, present: true}},
	"waitaof":    {class: Dedicated, effect: EffectBlock, timeout: timeoutArg{pos: 3, millis: true, present: true}},
	// XREAD and XREADGROUP block only with BLOCK: see ClassOf.
	"xread":      {class: Shared, effect: EffectBlock, timeout: blockMillis, reply: ReplyStreams},
	"xreadgroup": {class: Shared, effect: EffectBlock, timeout: blockMillis, reply: ReplyStreams},

	// State of the connection that the proxy does not follow.
	"client|tracking":     {class: Dedicated, effect: EffectSession},
	"client|caching":      {class: Dedicated, effect: EffectSession},
	"client|getredir":     {class: Dedicated},
	"client|trackinginfo": {class: Dedicated},
	"client|no-touch":     {class: Dedicated, effect: EffectSession},
	"script|debug":        {class: Dedicated, effect: EffectSession, scope: ScopeAll},
	"auth":                {class: Dedicated, effect: EffectSession},
	// DEBUG's replies are not modelled (DEBUG PROTOCOL sends a push before its reply,
	// DEBUG SLEEP blocks): on a connection of the client's own they concern it alone.
	"debug": {class: Dedicated, effect: EffectSession, scope: ScopeAll},

	// About the client's connection to the proxy, answered by the proxy.
	"hello":           {class: Local, effect: EffectProtocol},
	"client|id":       {class: Local},
	"client|setname":  {class: Local},
	"client|getname":  {class: Local},
	"client|info":     {class: Local},
	"client|setinfo":  {class: Local},
	"client|reply":    {class: Local},
	"client|list":     {class: Local},
	"client|kill":     {class: Local},
	"client|unblock":  {class: Local},
	"client|no-evict": {class: Local},
	"acl|whoami":      {class: Local},
	"replconf":        {class: Local}, // ACK and GETACK get no reply at all
	"readonly":        {class: Local}, // cluster commands: the proxy presents a standalone server
	"readwrite":       {class: Local},
	"asking":          {class: Local},
	"cluster|*":       {class: Local, scope: ScopeAll},

	// Streams of the server's.
	"monitor": {class: Stream, scope: ScopeAll},
	"sync":    {class: Stream, scope: ScopeAll},
	"psync":   {class: Stream, scope: ScopeAll},

	// Control: must not queue behind a busy script or a paused connection.
	"script|kill":    {class: Control, scope: ScopeAll},
	"function|kill":  {class: Control, scope: ScopeAll},
	"function|stats": {class: Control},
	"client|unpause": {class: Control},

	// Stopping the server that every client of the proxy shares is not for one of them.
	"shutdown": {class: Refused},

	// Keys beyond their arguments, for a namespace.
	"flushall":     {class: EveryShard, scope: ScopeAll},
	"replicaof":    {class: EveryShard, scope: ScopeAll, response: AllSucceeded}, // a part of the keyspace demoted would be a part presented as the whole
	"slaveof":      {class: EveryShard, scope: ScopeAll, response: AllSucceeded},
	"flushdb":      {class: EveryShard, scope: ScopeAll},
	"dbsize":       {class: EveryShard, scope: ScopeAll},
	"randomkey":    {class: EveryShard, scope: ScopeAll},
	"swapdb":       {class: Shared, scope: ScopeAll},
	"move":         {class: Shared, scope: ScopeAll},
	"migrate":      {class: Shared, scope: ScopeAll},
	"eval":         {class: Shared, scope: ScopeAll, script: true},
	"evalsha":      {class: Shared, scope: ScopeAll, script: true},
	"eval_ro":      {class: Shared, scope: ScopeAll, script: true},
	"evalsha_ro":   {class: Shared, scope: ScopeAll, script: true},
	"fcall":        {class: Shared, scope: ScopeAll, script: true},
	"fcall_ro":     {class: Shared, scope: ScopeAll, script: true},
	"script|flush": {class: EveryShard, scope: ScopeAll},
	"function|*":   {scope: ScopeAll}, // a library's functions may name any key

	// Pub/sub counts and lists: a sharded backend's subscribers are on every shard.
	"pubsub|channels":      {class: EveryShard},
	"pubsub|shardchannels": {class: EveryShard},
	"pubsub|numsub":        {class: EveryShard},
	"pubsub|shardnumsub":   {class: EveryShard},
	"pubsub|numpat":        {class: EveryShard},

	// Patterns and keys in replies.
	"keys":    {class: EveryShard, patterns: PatternGlob, reply: ReplyKeyArray},
	"scan":    {class: EveryShard, patterns: PatternGlob, reply: ReplyScan},
	"sort":    {class: Shared, patterns: PatternSort},
	"sort_ro": {class: Shared, patterns: PatternSort},
	"lmpop":   {class: Shared, reply: ReplyFirstKey},
	"zmpop":   {class: Shared, reply: ReplyFirstKey},
}

func init() {
	for i := range table {
		classifyTree(&table[i], false)
	}
}

// ruleFor returns the rule of the command called name: its own, or for a subcommand
// that has none, its container's "name|*".
func ruleFor(name string) (rule, bool) {
	if r, ok := rules[name]; ok {
		return r, true
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '|' {
			r, ok := rules[name[:i+1]+"*"]
			return r, ok
		}
	}
	return rule{}, false
}

// classifyTree classifies c and its subcommands, and readies their key lookup.
func classifyTree(c *Info, learned bool) {
	classify(c, learned)
	c.prepareFast()
	for i := range c.subs {
		classifyTree(&c.subs[i], learned)
	}
}

// classify sets c's class and the other properties of its rule, or else those its
// flags and command tips imply. learned is true for a command learned from a server
// and not in the table (a module's, a newer Redis's): such a command is Shared only
// when it is a plain data command.
func classify(c *Info, learned bool) {
	if movable(c) {
		c.Flags |= MovableKeys
	}
	r, ok := ruleFor(c.Name)
	switch {
	case len(c.subs) > 0 && !c.ArityOK(1):
		r.class = Local // the container alone: Redis's arity or unknown-subcommand error
	case ok && r.class != Unclassified:
	case c.Flags&Blocking != 0:
		r.class, r.effect = Dedicated, EffectBlock
	case learned && !dataCommand(c):
		r.class = Unclassified
	case c.Flags&AllowBusy != 0:
		r.class = Control // useful while a script runs: not behind it
	case c.Request == AllShards || c.Request == AllNodes || c.Request == RequestSpecial:
		r.class = EveryShard
	default:
		r.class = Shared
	}
	if c.Flags&TouchesArbitraryKeys != 0 && r.patterns == PatternNone {
		r.scope = ScopeAll
	}
	if learned && c.Flags&MovableKeys != 0 && !c.hasKeySpecs() {
		// A module command that finds its keys with code of its own (getkeys-api):
		// the model cannot tell them, so it cannot keep them in a namespace.
		r.scope = ScopeAll
	}
	c.Class, c.Effect, c.Scope, c.Patterns, c.ReplyKeys = r.class, r.effect, r.scope, r.patterns, r.reply
	c.timeout, c.Channels = r.timeout, r.channels
	c.subscribed, c.immediate, c.script = r.subscribed, r.immediate, r.script
	if r.response != ResponseDefault {
		c.Response = r.response
	}
}

// dataCommand reports whether a learned command c is a plain data command: it reads
// or writes keys, and is not about the connection, pub/sub, transactions or blocking.
func dataCommand(c *Info) bool {
	if c.Flags&(Write|ReadOnly) == 0 && !c.HasKeys() {
		return false
	}
	return c.Flags&(PubSub|Blocking|NoMulti|AllowBusy) == 0 &&
		c.ACL&(CatConnection|CatTransaction|CatPubSub|CatBlocking) == 0
}

// movable reports whether c's key positions depend on its arguments, as Redis computes
// its movablekeys flag: a getkeys procedure, or a key spec that is not a plain index and
// range.
func movable(c *Info) bool {
	if c.Flags&Module != 0 {
		return c.Flags&MovableKeys != 0
	}
	if c.proc != procNone && c.proc != procFirst {
		return true
	}
	for _, s := range c.specs {
		if s.bs != bsIndex || s.fk != fkRange {
			return true
		}
	}
	return false
}

// ClassOf returns the class of the command args (name first) that c describes: c.Class,
// or, for a container, that of the subcommand args name (Local for one it does not
// have), or for XREAD and XREADGROUP Dedicated when they have BLOCK.
func (c *Info) ClassOf(args [][]byte) Class {
	if len(c.subs) > 0 && len(args) > 1 {
		s, ok := c.Subcommand(args[1])
		if !ok {
			return Local
		}
		c = s
	}
	if c.Effect == EffectBlock && c.Class == Shared {
		if _, blocks := c.BlockTimeout(args); blocks {
			return Dedicated
		}
	}
	return c.Class
}

// Shareable reports whether the command args may go over a connection that other
// clients share: it is known (Lookup finds it), and of class Shared or EveryShard.
// It does not allocate.
func Shareable(args [][]byte) bool {
	if len(args) == 0 {
		return false
	}
	c, ok := Lookup(args[0])
	if !ok {
		return false
	}
	switch c.ClassOf(args) {
	case Shared, EveryShard:
		return true
	}
	return false
}

// Queued reports whether Redis queues c when its client is in a transaction: every
// command but MULTI, EXEC, DISCARD, WATCH, QUIT and RESET, which run at once.
func (c *Info) Queued() bool { return !c.immediate }

// AllowedSubscribed reports whether a RESP2 client may send c while subscribed:
// (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET, as Redis allows.
func (c *Info) AllowedSubscribed() bool { return c.subscribed }

// RunsScript reports whether the command runs a script (EVAL, EVALSHA, FCALL and their
// read-only forms), which may keep its server busy for long: a proxy sends such
// commands over connections of their own kind (backend.WithScripts), so that no other
// command waits behind one; the server answers those -BUSY meanwhile, as it answers a
// client of its own.
func (c *Info) RunsScript() bool { return c.script }

// BlockTimeout returns how long the command args (name first), which c describes, may
// block its connection: its timeout argument, read as Redis reads it; blocks is false
// when it does not block (XREAD without BLOCK, a command that is not blocking). A
// timeout of 0 (for ever) is returned as -1; a timeout Redis refuses (negative, not a
// number) as 0 with blocks true: the server answers at once with its error.
func (c *Info) BlockTimeout(args [][]byte) (d time.Duration, blocks bool) {
	c = c.Resolve(args)
	if c.Effect != EffectBlock {
		return 0, false
	}
	t := c.timeout
	if !t.present {
		return -1, true // a learned blocking command: its timeout is not known
	}
	var arg []byte
	switch {
	case t.pos < 0:
		arg = args[len(args)-1]
	case t.pos > 0:
		if int(t.pos) >= len(args) {
			return 0, true
		}
		arg = args[t.pos]
	default: // BLOCK's, among the options before STREAMS, read as XREAD reads them
		if arg = blockOption(args, c.Name == "xreadgroup"); arg == nil {
			return 0, false
		}
	}
	if len(args) < 2 {
		return 0, true
	}
	f, err := strconv.ParseFloat(string(arg), 64)
	if err != nil || f < 0 {
		return 0, true
	}
	if f == 0 {
		return -1, true
	}
	if t.millis {
		return time.Duration(f * float64(time.Millisecond)), true
	}
	return time.Duration(f * float64(time.Second)), true
}
