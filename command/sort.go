package command

import (
	"bytes"
	"strconv"

	"github.com/redchain/redchain/proxy/resp"
)

// Sort is a SORT or SORT_RO command as Redis reads it (see ParseSort). Its byte slices
// are the command's arguments, borrowed.
type Sort struct {
	Key   []byte
	By    []byte   // BY's pattern (the last one counts); nil without BY
	Gets  [][]byte // the GET patterns, in order
	Desc  bool
	Alpha bool
	// Offset and Count are LIMIT's; without LIMIT, 0 and -1 (every element).
	Offset, Count int64
	Store         []byte // STORE's destination (the last one counts); nil without
}

// Refusals of SORT's arguments, in Redis's words.
var (
	errSortSyntax = resp.Error("ERR", "syntax error")
	errSortLimit  = resp.Error("ERR", "value is not an integer or out of range")
)

// ParseSort reads SORT or SORT_RO (args, name first, at least the key) as
// sortCommandGeneric (sort.c) reads it: bad is the refusal Redis gives to the first
// argument it refuses (a syntax error, a LIMIT that is not a number; STORE is a syntax
// error in SORT_RO), and the zero Value otherwise.
func ParseSort(args [][]byte) (s Sort, bad resp.Value) {
	s.Key, s.Count = args[1], -1
	readonly := equalFold("sort_ro", args[0])
	sortOptions(args, readonly, func(kind sortOption, i int) {
		if bad.Type != 0 {
			return
		}
		switch kind {
		case sortStore:
			s.Store = args[i]
		case sortBy:
			s.By = args[i]
		case sortGet:
			s.Gets = append(s.Gets, args[i])
		case sortAsc:
			s.Desc = false
		case sortDesc:
			s.Desc = true
		case sortAlpha:
			s.Alpha = true
		case sortLimit:
			var err1, err2 error
			s.Offset, err1 = strconv.ParseInt(string(args[i]), 10, 64)
			s.Count, err2 = strconv.ParseInt(string(args[i+1]), 10, 64)
			if err1 != nil || err2 != nil {
				bad = errSortLimit
			}
		case sortSyntax:
			bad = errSortSyntax
		}
	})
	return s, bad
}

// Sorts reports whether the command sorts by keys it names: a BY pattern with a '*'.
// Without BY the elements are sorted by their own values; with a BY pattern without a
// '*' (BY nosort) they keep their order.
func (s *Sort) Sorts() bool { return s.By != nil && bytes.IndexByte(s.By, '*') >= 0 }

// Range returns the positions, first and last, of the elements of a sorted result of n
// elements that LIMIT keeps, as Redis bounds them; last < first when it keeps none.
func (s *Sort) Range(n int) (first, last int) {
	start := min(max(s.Offset, 0), int64(n))
	count := min(max(s.Count, -1), int64(n))
	end := int64(n) - 1
	if count >= 0 {
		end = start + count - 1
	}
	if start >= int64(n) {
		start, end = int64(n)-1, int64(n)-2
	}
	end = min(end, int64(n)-1)
	return int(start), int(end)
}

// SortPattern is what a BY or GET pattern names for one element, as Redis's
// lookupKeyByPattern forms it (see SortLookup).
type SortPattern struct {
	Self  bool   // "#": the element itself
	None  bool   // no '*': nothing (GET gives nil)
	Key   []byte // the key, the first '*' replaced by the element
	Field []byte // "key->field": the field of the hash at Key; nil for a string
}

// SortLookup returns what pattern names for element: the element itself for "#";
// nothing for a pattern without '*'; else the key formed by replacing the first '*'
// with the element, and the hash field after the first "->" that follows the '*' (when
// something follows it).
func SortLookup(pattern, element []byte) SortPattern {
	if string(pattern) == "#" {
		return SortPattern{Self: true}
	}
	star := bytes.IndexByte(pattern, '*')
	if star < 0 {
		return SortPattern{None: true}
	}
	keyEnd := len(pattern)
	var field []byte
	if f := bytes.Index(pattern[star+1:], []byte("->")); f >= 0 && star+1+f+2 < len(pattern) {
		keyEnd = star + 1 + f
		field = pattern[keyEnd+2:]
	}
	key := make([]byte, 0, keyEnd-1+len(element))
	key = append(append(append(key, pattern[:star]...), element...), pattern[star+1:keyEnd]...)
	return SortPattern{Key: key, Field: field}
}
