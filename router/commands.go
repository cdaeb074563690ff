package router

//go:generate go run ./gen -out commands_gen.go -examples testdata/examples.txt

// Command describes one Redis command, or one subcommand of a container command such as
// OBJECT or XINFO, as Redis 7 declares it (COMMAND INFO): its arity, its flags and where
// its keys are. The table is generated from a real redis-server (see gen/) and checked
// in; commands are read-only values shared by every goroutine.
type Command struct {
	// Name is the command's name in lower case: "get", or "object|encoding" for a
	// subcommand, as COMMAND INFO gives it.
	Name string
	// Arity is Redis's arity: the number of arguments, name included (subcommand name
	// included for a subcommand), or -N for "at least N".
	Arity int
	// Flags are the command's flags.
	Flags Flags

	specs   []keySpec
	subs    []Command
	getKeys getKeysProc
}

// Flags is a set of command flags, from Redis's COMMAND INFO.
type Flags uint32

// The flags of Redis 7 that a proxy may act on.
const (
	Write           Flags = 1 << iota // may modify the keyspace
	ReadOnly                          // reads keys, never modifies them
	DenyOOM                           // may use more memory: refused when Redis is out of memory
	Admin                             // administrative: CONFIG, DEBUG, SHUTDOWN, CLIENT KILL, ...
	PubSub                            // publish/subscribe
	NoScript                          // not allowed in scripts
	Blocking                          // may block the connection (BLPOP, XREAD BLOCK, ...)
	Loading                           // allowed while the database loads
	Stale                             // allowed on a replica with stale data
	Fast                              // O(1) or O(log N)
	NoAuth                            // allowed before authentication
	MayReplicate                      // may be propagated to replicas
	NoMulti                           // not allowed in MULTI
	MovableKeys                       // key positions depend on the arguments
	NoMandatoryKeys                   // may be called without any key
	AllowBusy                         // allowed while a script is busy
)

// Has reports whether f holds every flag of g.
func (f Flags) Has(g Flags) bool { return f&g == g }

// flagNames maps Redis's flag words to Flags, for the generator and String.
var flagNames = []struct {
	name string
	flag Flags
}{
	{"write", Write}, {"readonly", ReadOnly}, {"denyoom", DenyOOM}, {"admin", Admin},
	{"pubsub", PubSub}, {"noscript", NoScript}, {"blocking", Blocking}, {"loading", Loading},
	{"stale", Stale}, {"fast", Fast}, {"no_auth", NoAuth}, {"may_replicate", MayReplicate},
	{"no_multi", NoMulti}, {"movablekeys", MovableKeys}, {"no_mandatory_keys", NoMandatoryKeys},
	{"allow_busy", AllowBusy},
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

// keySpec is one of Redis 7's key specifications (COMMAND INFO's key_specs): where to
// begin searching (an index, or after a keyword) and how to find the keys from there (a
// range, or a count given in an argument).
type keySpec struct {
	bs    uint8 // bsIndex, bsKeyword or bsUnknown
	fk    uint8 // fkRange, fkKeynum or fkUnknown
	flags uint8 // specIncomplete, specNotKey, specVariableFlags

	// begin_search: the index (bsIndex), or where to start looking for keyword
	// (bsKeyword; negative: from the end).
	start   int
	keyword string

	// find_keys: range {lastkey, keystep, limit} or keynum {keynumidx, firstkey, keystep}.
	lastKey, keyStep, limit int
	keyNumIdx, firstKey     int
}

const (
	bsUnknown = iota
	bsIndex
	bsKeyword
)

const (
	fkUnknown = iota
	fkRange
	fkKeynum
)

// Flags of a key spec that change how keys are found.
const (
	specIncomplete    = 1 << iota // the spec may miss keys: Redis falls back to a getkeys procedure
	specNotKey                    // the arguments are channels, not keys
	specVariableFlags             // the key's flags depend on the arguments
)

// getKeysProc names one of the procedures Redis uses for the commands whose key specs
// cannot find every key (an "unknown" or "incomplete" spec).
type getKeysProc uint8

const (
	procNone    getKeysProc = iota
	procSort                // SORT: the sorted key and the STORE destination
	procSortRO              // SORT_RO: the sorted key
	procMigrate             // MIGRATE: one key, or the KEYS variant's list
)

// maxName is the longest command name Lookup considers; longer names are not commands.
const maxName = 32

// Lookup returns the command called name, ignoring case: one of the generated table, or
// else one that [Learn] added. It does not allocate and takes no lock. For a
// container command (OBJECT, XINFO, MEMORY, ...) it returns the container; see
// [Command.Subcommand] and [Command.Keys], which find the subcommand from the arguments.
func Lookup(name []byte) (*Command, bool) {
	var buf [maxName]byte
	if len(name) > maxName {
		return nil, false
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	i, ok := commandIndex[string(buf[:len(name)])]
	if !ok {
		return lookupLearned(buf[:len(name)]) // commands Learn added, if any
	}
	return &commandTable[i], true
}

// Commands returns every top-level command of the table, in name order. The result is
// shared: do not modify it.
func Commands() []Command { return commandTable[:] }

// Subcommands returns the subcommands of a container command (nil for others), in name
// order. The result is shared: do not modify it.
func (c *Command) Subcommands() []Command { return c.subs }

// Subcommand returns the subcommand of c called name ("encoding" for OBJECT ENCODING),
// ignoring case. It does not allocate.
func (c *Command) Subcommand(name []byte) (*Command, bool) {
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
// args[1] when c is a container and has it, else c.
func (c *Command) Resolve(args [][]byte) *Command {
	if len(c.subs) > 0 && len(args) > 1 {
		if s, ok := c.Subcommand(args[1]); ok {
			return s
		}
	}
	return c
}

// HasKeys reports whether the command, or any of its subcommands, can take key
// arguments (channels are not keys).
func (c *Command) HasKeys() bool {
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
