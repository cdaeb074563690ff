package command

// PatternArgs appends to dst the indexes in args (the whole command, name first) of the
// key patterns of c's kind (see [Info.Patterns]), reading the arguments as the command
// does: KEYS's pattern; every MATCH pattern of SCAN (the last one counts, but all are
// given); the BY and GET patterns of SORT and SORT_RO, but for GET # (the element
// itself). It allocates nothing when dst has the capacity.
func (c *Info) PatternArgs(args [][]byte, dst []int) []int {
	switch c.Patterns {
	case PatternGlob:
		if c.Name == "keys" {
			if len(args) == 2 {
				dst = append(dst, 1)
			}
			return dst
		}
		// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type], as scanGenericCommand
		// reads its options: in pairs after the cursor.
		for i := 2; i+1 < len(args); i += 2 {
			if equalFold("match", args[i]) {
				dst = append(dst, i+1)
			}
		}
	case PatternSort:
		sortOptions(args, c.Name == "sort_ro", func(kind sortOption, i int) {
			if kind == sortBy || kind == sortGet && string(args[i]) != "#" {
				dst = append(dst, i)
			}
		})
	}
	return dst
}
