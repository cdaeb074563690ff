package router

// Keys appends to dst[:0] the indexes in args of the command's key arguments, and
// returns the extended slice. args is the whole command, name first; for a container
// command the subcommand is found from args[1]. Channels (SPUBLISH's, for instance) are
// not keys. It allocates nothing when dst has the capacity.
//
// Keys interprets the command's key specs exactly as Redis 7 does (getKeysUsingKeySpecs
// in db.c), in spec order; a key that two specs name is listed twice. For the commands
// whose specs are incomplete Redis falls back on a procedure of its own, and so does
// Keys: SORT (the sorted key, then the last STORE destination), SORT_RO, and MIGRATE (its
// key, or the keys after KEYS). Where the arguments are malformed (a numkeys that is not
// a number or exceeds the arguments, a missing keyword), Keys returns the keys that the
// other specs find; Redis refuses such commands anyway. It never panics and never
// indexes outside args.
func (c *Command) Keys(args [][]byte, dst []int) []int {
	cmd := c.Resolve(args)
	switch cmd.getKeys {
	case procSort:
		return sortKeys(args, dst[:0])
	case procSortRO:
		return sortROKeys(args, dst[:0])
	case procMigrate:
		return migrateKeys(args, dst[:0])
	}
	if keys, ok := cmd.specKeys(args, dst[:0], false); ok {
		return keys
	}
	keys, _ := cmd.specKeys(args, dst[:0], true)
	return keys
}

// specKeys runs the key specs over args. With partial false it stops at the first spec
// that does not apply (it returns false, as Redis's getKeysUsingKeySpecs returns -1);
// with partial true it skips such specs (GET_KEYSPEC_RETURN_PARTIAL).
func (c *Command) specKeys(args [][]byte, dst []int, partial bool) ([]int, bool) {
	argc := len(args)
	for i := range c.specs {
		s := &c.specs[i]
		if s.flags&specNotKey != 0 {
			continue
		}
		first, last, step, ok := s.bounds(args)
		if ok && s.flags&specIncomplete != 0 && !partial {
			ok = false
		}
		if first == 0 && ok {
			continue // the keyword is not there: the spec has nothing to say
		}
		if !ok {
			if partial {
				continue
			}
			return dst[:0], false
		}
		for k := first; k <= last; k += step {
			if k >= argc {
				break // a variadic command given too few arguments: its own error
			}
			dst = append(dst, k)
		}
	}
	return dst, true
}

// bounds finds the first and last key of the spec in args, and the step between keys.
// first == 0 with ok means a keyword spec whose keyword is absent.
func (s *keySpec) bounds(args [][]byte) (first, last, step int, ok bool) {
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
			for i := argc + s.start; i > 0; i-- {
				if i >= argc {
					break
				}
				if equalFold(s.keyword, args[i]) {
					first = i + 1
					break
				}
			}
		}
		if first == 0 {
			return 0, 0, 0, true
		}
	default:
		return 0, 0, 0, false
	}
	if first < 1 || first >= argc {
		return 0, 0, 0, false
	}
	switch s.fk {
	case fkRange:
		step = s.keyStep
		switch {
		case s.lastKey >= 0:
			last = first + s.lastKey
		case s.limit == 0:
			last = argc + s.lastKey
		default:
			last = first + (argc-first)/s.limit + s.lastKey
		}
	case fkKeynum:
		step = s.keyStep
		idx := first + s.keyNumIdx
		if idx >= argc {
			return 0, 0, 0, false
		}
		n, valid := parseCount(args[idx])
		if !valid || n > argc {
			return 0, 0, 0, false
		}
		first += s.firstKey
		last = first + n - 1
	default:
		return 0, 0, 0, false
	}
	if step < 1 || last >= argc || last < first || first >= argc {
		return 0, 0, 0, false
	}
	return first, last, step, true
}

// parseCount parses a non-negative decimal count as Redis's string2ll does (no sign, no
// leading zeros, no spaces). Counts beyond 18 digits are refused: no command has that
// many arguments, so Redis finds them invalid too.
func parseCount(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// sortKeys is Redis's sortGetKeys: the sorted key, and the destination of the last STORE
// option. LIMIT takes two arguments, GET and BY one, which are skipped.
func sortKeys(args [][]byte, dst []int) []int {
	if len(args) < 2 {
		return dst
	}
	dst = append(dst, 1)
	store := 0
	for i := 2; i < len(args); i++ {
		switch {
		case equalFold("limit", args[i]):
			i += 2
		case equalFold("get", args[i]), equalFold("by", args[i]):
			i++
		case equalFold("store", args[i]) && i+1 < len(args):
			store = i + 1
		}
	}
	if store > 0 {
		dst = append(dst, store)
	}
	return dst
}

// sortROKeys is Redis's sortROGetKeys: the sorted key.
func sortROKeys(args [][]byte, dst []int) []int {
	if len(args) < 2 {
		return dst
	}
	return append(dst, 1)
}

// migrateKeys is Redis's migrateGetKeys: MIGRATE host port key db timeout [COPY]
// [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS key...]. With KEYS the key argument must be
// empty and the keys are those after KEYS; a non-empty key with KEYS gives none.
func migrateKeys(args [][]byte, dst []int) []int {
	if len(args) < 4 {
		return dst
	}
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
	for k := first; k < first+n; k++ {
		dst = append(dst, k)
	}
	return dst
}

// ShardChannels appends to dst the positions in args of the shard channels of
// SSUBSCRIBE, SUNSUBSCRIBE and SPUBLISH: arguments that are not keys (their key specs
// say not_key) but that Redis Cluster routes by hash slot as it routes keys.
func (c *Command) ShardChannels(args [][]byte, dst []int) []int {
	cmd := c.Resolve(args)
	for i := range cmd.specs {
		s := &cmd.specs[i]
		if s.flags&specNotKey == 0 {
			continue
		}
		first, last, step, ok := s.bounds(args)
		if !ok || first == 0 {
			continue
		}
		for k := first; k <= last && k < len(args); k += step {
			dst = append(dst, k)
		}
	}
	return dst
}
