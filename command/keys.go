package command

// keySpec is one of Redis 7's key specifications (COMMAND INFO's key_specs): where to
// begin searching (an index, or after a keyword) and how to find the keys from there (a
// range, or a count given in an argument).
type keySpec struct {
	bs    uint8  // bsIndex, bsKeyword or bsUnknown
	fk    uint8  // fkRange, fkKeynum or fkUnknown
	flags uint16 // spec* flags

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

// Flags of a key spec: how the keys are accessed, and how the spec is to be read.
const (
	specRO = 1 << iota
	specRW
	specOW
	specRM
	specAccess
	specUpdate
	specInsert
	specDelete
	specNotKey        // the arguments are channels, not keys
	specIncomplete    // the spec may miss keys: Redis falls back to a getkeys procedure
	specVariableFlags // the key's flags depend on the arguments
)

// proc names one of Redis's getkeys procedures (db.c), for the commands whose key specs
// cannot find every key, or whose keys the command itself reads differently.
type proc uint8

const (
	procNone          proc = iota
	procSort               // SORT: the sorted key and the STORE destination
	procSortRO             // SORT_RO: the sorted key
	procMigrate            // MIGRATE: one key, or the KEYS variant's list
	procGeoradius          // GEORADIUS(BYMEMBER): the key and the last STORE/STOREDIST
	procXread              // XREAD, XREADGROUP: the streams after STREAMS
	procFirst              // SET, BITFIELD: the first argument
	procNumkeys1           // numkeys at 1, keys from 2 (LMPOP, ZMPOP, SINTERCARD, ZUNION...)
	procNumkeys2           // numkeys at 2, keys from 3 (EVAL, FCALL, BLMPOP, BZMPOP)
	procNumkeys2Store      // ZUNIONSTORE...: numkeys at 2, keys from 3, destination at 1
)

// Keys appends to dst[:0] the indexes in args of the command's key arguments and
// returns the extended slice. args is the whole command, name first; for a container
// the subcommand is found from args[1]. Channels are not keys. It allocates nothing when
// dst has the capacity, and never panics or indexes outside args.
//
// Keys finds the keys Redis finds, in its order: those of COMMAND GETKEYS
// (getKeysFromCommandWithSpecs in db.c: the key specs, or, where they cannot tell, the
// command's getkeys procedure), with two exceptions where Redis's own lookup names a key
// the command does not touch, and the key it does touch would escape a namespace or a
// slot check:
//
//   - GEORADIUS and GEORADIUSBYMEMBER store into the last STORE or STOREDIST
//     destination (geo.c); their key specs name the first.
//   - SORT stores into the last STORE destination, reading the options as the command
//     does (sort.c); sortGetKeys skips the argument after every BY, GET and LIMIT even
//     when that argument is STORE's.
//   - XREAD and XREADGROUP read the streams after the STREAMS that follows their options
//     (t_stream.c); their key spec looks for the first argument STREAMS from a fixed
//     position, which may be a group or consumer name (XREADGROUP COUNT 1 GROUP streams
//     c STREAMS k >).
//   - PFMERGE with no source key writes its destination; Redis's lookup finds no key at
//     all there, as a range of keys to the end that is empty fails the whole lookup.
//     Keys takes such a range as empty.
//
// For a malformed command (a numkeys that is not a number, a missing STREAMS) Keys
// returns what Redis's lookup returns, often nothing; Redis refuses such commands.
func (c *Info) Keys(args [][]byte, dst []int) []int {
	dst = dst[:0]
	cmd := c.Resolve(args)
	if cmd.fast.ok {
		return cmd.fast.keys(args, dst)
	}
	switch cmd.proc {
	case procSort:
		return sortKeys(args, dst, false)
	case procGeoradius:
		return georadiusKeys(cmd, args, dst)
	case procXread:
		return xreadKeys(args, dst, cmd.Name == "xreadgroup")
	}
	if cmd.hasKeySpecs() && !cmd.variableFlags() {
		if keys, ok := cmd.specKeys(args, dst); ok {
			return keys
		}
		dst = dst[:0]
	}
	return cmd.procKeys(args, dst)
}

// hasKeySpecs reports whether a spec of c finds keys (and not channels).
func (c *Info) hasKeySpecs() bool {
	for i := range c.specs {
		if c.specs[i].flags&specNotKey == 0 {
			return true
		}
	}
	return false
}

// variableFlags reports whether a spec of c says its keys' flags depend on the
// arguments: Redis then asks the procedure, which knows them.
func (c *Info) variableFlags() bool {
	for i := range c.specs {
		if c.specs[i].flags&specVariableFlags != 0 {
			return true
		}
	}
	return false
}

// specKeys runs the key specs over args, as Redis's getKeysUsingKeySpecs does without
// GET_KEYSPEC_RETURN_PARTIAL: ok is false (Redis returns -1) when a spec does not apply
// or is incomplete.
func (c *Info) specKeys(args [][]byte, dst []int) ([]int, bool) {
	argc := len(args)
	for i := range c.specs {
		s := &c.specs[i]
		if s.flags&specNotKey != 0 {
			continue
		}
		first, last, step, found, ok := s.bounds(args)
		if !ok {
			return dst, false
		}
		if !found {
			continue // the keyword is not there, or the range is empty: nothing to say
		}
		for k := first; k <= last; k += step {
			if k >= argc || k < first {
				break // a variadic command given too few arguments: its own error
			}
			dst = append(dst, k)
		}
		if s.flags&specIncomplete != 0 {
			return dst, false
		}
	}
	return dst, true
}

// bounds finds the first and last key of the spec in args, and the step between keys.
// found is false for a keyword spec whose keyword is absent; ok is false when the spec
// does not apply (Redis's invalid_spec).
func (s *keySpec) bounds(args [][]byte) (first, last, step int, found, ok bool) {
	argc := len(args)
	switch s.bs {
	case bsIndex:
		first = s.start
	case bsKeyword:
		// As Redis: from startfrom up to the last argument but one (a keyword last has no
		// key after it), or, with a negative startfrom, from there down to the first
		// argument after the name.
		if s.start > 0 {
			for i := s.start; i < argc-1; i++ {
				if equalFold(s.keyword, args[i]) {
					first = i + 1
					break
				}
			}
		} else {
			for i := argc + s.start; i > 1 && i < argc; i-- {
				if equalFold(s.keyword, args[i]) {
					first = i + 1
					break
				}
			}
		}
		if first == 0 {
			return 0, 0, 0, false, true
		}
	default:
		return 0, 0, 0, false, false
	}
	switch s.fk {
	case fkRange:
		step = s.keyStep
		switch {
		case s.lastKey >= 0:
			last = first + s.lastKey
		case s.limit == 0:
			if s.bs == bsIndex && s.lastKey == -1 && first == argc {
				return 0, 0, 0, false, true // PFMERGE dest: no source keys
			}
			last = argc + s.lastKey
		default:
			last = first + (argc-first)/s.limit + s.lastKey
		}
	case fkKeynum:
		step = s.keyStep
		idx := first + s.keyNumIdx
		if s.keyNumIdx >= argc || idx >= argc {
			return 0, 0, 0, false, false
		}
		n, valid := string2ll(args[idx])
		if !valid || n < 0 {
			return 0, 0, 0, false, false
		}
		first += s.firstKey
		last = first + int(int32(n)) - 1 // Redis casts numkeys to int
	default:
		return 0, 0, 0, false, false
	}
	if last >= argc || last < first || first >= argc || step < 1 {
		return 0, 0, 0, false, false
	}
	return first, last, step, true, true
}

// procKeys runs Redis's getkeys procedure of c, if it has one.
func (c *Info) procKeys(args [][]byte, dst []int) []int {
	switch c.proc {
	case procSortRO:
		if len(args) < 2 {
			return dst
		}
		return append(dst, 1)
	case procMigrate:
		return migrateKeys(args, dst)
	case procFirst:
		if len(args) < 2 {
			return dst
		}
		return append(dst, 1)
	case procNumkeys1:
		return numkeysKeys(args, dst, 0, 1, 2)
	case procNumkeys2:
		return numkeysKeys(args, dst, 0, 2, 3)
	case procNumkeys2Store:
		return numkeysKeys(args, dst, 1, 2, 3)
	}
	return dst
}

// numkeysKeys is Redis's genericGetKeys with a key step of 1: numkeys keys from
// argument first (numkeys read with atoi, as Redis does), then the destination store,
// if not 0. A count below 1 or beyond the arguments gives no key.
func numkeysKeys(args [][]byte, dst []int, store, count, first int) []int {
	if count >= len(args) {
		return dst
	}
	n := atoi(args[count])
	if n < 1 || n > len(args)-first {
		return dst
	}
	for i := range n {
		dst = append(dst, first+i)
	}
	if store > 0 {
		dst = append(dst, store)
	}
	return dst
}

// sortKeys finds the keys of SORT (readonly false) or SORT_RO: the sorted key, and the
// destination of the last STORE. It reads the options as sortCommandGeneric (sort.c)
// does, stopping where the command would stop with a syntax error; see sortOptions.
func sortKeys(args [][]byte, dst []int, readonly bool) []int {
	if len(args) < 2 {
		return dst
	}
	dst = append(dst, 1)
	store := 0
	sortOptions(args, readonly, func(kind sortOption, i int) {
		if kind == sortStore {
			store = i
		}
	})
	if store > 0 {
		dst = append(dst, store)
	}
	return dst
}

// sortOption is an option of SORT.
type sortOption uint8

const (
	sortStore  sortOption = iota // STORE's destination
	sortBy                       // BY's pattern
	sortGet                      // GET's pattern
	sortAsc                      // ASC
	sortDesc                     // DESC
	sortAlpha                    // ALPHA
	sortLimit                    // LIMIT: the offset, then the count
	sortSyntax                   // an argument the command refuses
)

// sortOptions reads SORT's options (from args[2]) as sortCommandGeneric does and calls
// found with the index of each, in order: STORE's destination, BY's and GET's
// patterns, LIMIT's offset, the others' own. It stops at the first argument the
// command refuses (a syntax error: sortSyntax), since the command then runs nothing;
// LIMIT's numbers are not checked, as a bad one fails the command too.
func sortOptions(args [][]byte, readonly bool, found func(sortOption, int)) {
	for j := 2; j < len(args); j++ {
		left := len(args) - j - 1
		a := args[j]
		switch {
		case equalFold("asc", a):
			found(sortAsc, j)
		case equalFold("desc", a):
			found(sortDesc, j)
		case equalFold("alpha", a):
			found(sortAlpha, j)
		case equalFold("limit", a) && left >= 2:
			found(sortLimit, j+1)
			j += 2
		case !readonly && equalFold("store", a) && left >= 1:
			found(sortStore, j+1)
			j++
		case equalFold("by", a) && left >= 1:
			found(sortBy, j+1)
			j++
		case equalFold("get", a) && left >= 1:
			found(sortGet, j+1)
			j++
		default:
			found(sortSyntax, j)
			return
		}
	}
}

// georadiusKeys finds the keys of GEORADIUS and GEORADIUSBYMEMBER: the source, and the
// destination of the last STORE or STOREDIST, reading the options as georadiusGeneric
// (geo.c) does, up to the first argument it refuses.
func georadiusKeys(c *Info, args [][]byte, dst []int) []int {
	if len(args) < 2 {
		return dst
	}
	dst = append(dst, 1)
	base := 6 // GEORADIUS key longitude latitude radius unit
	if c.Name == "georadiusbymember" {
		base = 5 // GEORADIUSBYMEMBER key member radius unit
	}
	store := 0
	for i := base; i < len(args); i++ {
		left := len(args) - i - 1
		a := args[i]
		switch {
		case equalFold("withdist", a), equalFold("withhash", a), equalFold("withcoord", a),
			equalFold("any", a), equalFold("asc", a), equalFold("desc", a):
		case equalFold("count", a) && left >= 1:
			i++
		case (equalFold("store", a) || equalFold("storedist", a)) && left >= 1:
			store = i + 1
			i++
		default:
			i = len(args) // a syntax error: nothing is stored
			store = 0
		}
	}
	if store > 0 {
		dst = append(dst, store)
	}
	return dst
}

// migrateKeys is Redis's migrateGetKeys: MIGRATE host port key db timeout [COPY]
// [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS key...]. With KEYS the key argument must be
// empty and the keys are those after KEYS; a non-empty key with KEYS gives none.
func migrateKeys(args [][]byte, dst []int) []int {
	first, n := 3, 1
	for i := 6; i < len(args); i++ {
		if equalFold("keys", args[i]) {
			if len(args[3]) > 0 {
				return dst
			}
			first, n = i+1, len(args)-i-1
			break
		}
		switch {
		case equalFold("auth", args[i]):
			i++
		case equalFold("auth2", args[i]):
			i += 2
		}
	}
	for k := first; k < first+n && k < len(args); k++ {
		dst = append(dst, k)
	}
	return dst
}

// xreadOptions reads the options of XREAD (group false) or XREADGROUP before their
// STREAMS, as xreadCommand (t_stream.c) does, up to the first one it refuses. It returns
// the index of STREAMS (-1 without one) and of BLOCK's argument (0 without one).
func xreadOptions(args [][]byte, group bool) (streams, block int) {
	for i := 1; i < len(args); i++ {
		left := len(args) - i - 1
		a := args[i]
		switch {
		case equalFold("block", a) && left >= 1:
			block = i + 1
			i++
		case equalFold("count", a) && left >= 1:
			i++
		case equalFold("streams", a) && left >= 1:
			return i, block
		case group && equalFold("group", a) && left >= 2:
			i += 2
		case group && equalFold("noack", a):
		default:
			return -1, block
		}
	}
	return -1, block
}

// blockOption returns the argument of XREAD's or XREADGROUP's BLOCK, or nil.
func blockOption(args [][]byte, group bool) []byte {
	if _, block := xreadOptions(args, group); block > 0 {
		return args[block]
	}
	return nil
}

// xreadKeys finds the streams of XREAD (group false) or XREADGROUP: the first half of
// the arguments after STREAMS (see xreadOptions).
func xreadKeys(args [][]byte, dst []int, group bool) []int {
	streams, _ := xreadOptions(args, group)
	if streams < 0 {
		return dst
	}
	n := len(args) - streams - 1
	if n%2 != 0 {
		return dst
	}
	for k := streams + 1; k < streams+1+n/2; k++ {
		dst = append(dst, k)
	}
	return dst
}

// fastKeys is the key positions of a command with a single key spec of a fixed index and
// a range, and no procedure (GET, MSET, DEL...): Keys then needs no loop over specs.
type fastKeys struct {
	ok                bool
	first, last, step int // last as in a range spec: >= 0 relative to first, < 0 from the end
}

// keys returns the positions for args.
func (f *fastKeys) keys(args [][]byte, dst []int) []int {
	argc := len(args)
	last := f.first + f.last
	if f.last < 0 {
		last = argc + f.last
	}
	if f.first >= argc || last >= argc || last < f.first {
		return dst
	}
	for k := f.first; k <= last; k += f.step {
		dst = append(dst, k)
	}
	return dst
}

// prepareFast fills c.fast when c's keys can be found the quick way, with the same
// result as specKeys.
func (c *Info) prepareFast() {
	if c.proc != procNone || len(c.specs) != 1 {
		return
	}
	s := &c.specs[0]
	if s.bs != bsIndex || s.fk != fkRange || s.limit != 0 || s.keyStep < 1 ||
		s.flags&(specNotKey|specIncomplete|specVariableFlags) != 0 || s.start < 1 {
		return
	}
	c.fast = fastKeys{ok: true, first: s.start, last: s.lastKey, step: s.keyStep}
}

// ShardChannels appends to dst the positions in args of the shard channels of
// SSUBSCRIBE, SUNSUBSCRIBE and SPUBLISH: arguments that are not keys (their key specs
// say not_key) but that Redis Cluster routes by hash slot as it routes keys.
func (c *Info) ShardChannels(args [][]byte, dst []int) []int {
	cmd := c.Resolve(args)
	for i := range cmd.specs {
		s := &cmd.specs[i]
		if s.flags&specNotKey == 0 {
			continue
		}
		first, last, step, found, ok := s.bounds(args)
		if !ok || !found {
			continue
		}
		for k := first; k <= last && k < len(args); k += step {
			dst = append(dst, k)
		}
	}
	return dst
}

// string2ll parses a decimal integer as Redis's string2ll does: an optional '-', no '+',
// no spaces, no leading zeros, within int64.
func string2ll(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v < uint64(c-'0') {
			return 0, false
		}
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// atoi is C's atoi, as genericGetKeys reads numkeys with it: leading white space, an
// optional sign, then digits up to the first other byte; the result truncated to a C
// int as glibc's does (strtol clamped to the long range, then cast).
func atoi(b []byte) int {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] >= '\t' && b[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var v uint64
	overflow := false
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if v > (1<<63)/10 {
			overflow = true
			continue
		}
		v = v*10 + uint64(b[i]-'0')
		if v > 1<<63 {
			overflow = true
		}
	}
	var l int64
	switch {
	case overflow && neg:
		l = -1 << 63
	case overflow:
		l = 1<<63 - 1
	case neg:
		l = -int64(v)
	case v > 1<<63-1:
		l = 1<<63 - 1
	default:
		l = int64(v)
	}
	return int(int32(l))
}
