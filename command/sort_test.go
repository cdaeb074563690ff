package command_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

func TestParseSort(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"SORT k", "key=k by= gets=[] desc=false alpha=false limit=0,-1 store= sorts=false"},
		{"SORT k BY w_* GET # GET d_*->f DESC ALPHA LIMIT 1 2 STORE dst", "key=k by=w_* gets=[# d_*->f] desc=true alpha=true limit=1,2 store=dst sorts=true"},
		{"sort k by nosort desc asc", "key=k by=nosort gets=[] desc=false alpha=false limit=0,-1 store= sorts=false"},
		{"SORT k LIMIT x 1", "-ERR value is not an integer or out of range"},
		{"SORT k LIMIT 1", "-ERR syntax error"},
		{"SORT k BY", "-ERR syntax error"},
		{"SORT k FOO LIMIT x 1", "-ERR syntax error"},
		{"SORT_RO k STORE dst", "-ERR syntax error"},
	} {
		s, bad := command.ParseSort(resp.NewCommand(strings.Fields(tc.cmd)...).Args)
		got := string(bad.AppendTo(nil))
		if bad.Type == 0 {
			got = fmt.Sprintf("key=%s by=%s gets=%s desc=%v alpha=%v limit=%d,%d store=%s sorts=%v",
				s.Key, s.By, s.Gets, s.Desc, s.Alpha, s.Offset, s.Count, s.Store, s.Sorts())
		}
		if got = strings.TrimSuffix(got, "\r\n"); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.cmd, got, tc.want)
		}
	}
}

// TestSortRange: LIMIT's bounds as sortCommandGeneric computes them.
func TestSortRange(t *testing.T) {
	for _, tc := range []struct {
		offset, count int64
		n             int
		first, last   int
	}{
		{0, -1, 5, 0, 4}, {1, 2, 5, 1, 2}, {-3, 2, 5, 0, 1}, {3, 100, 5, 3, 4},
		{5, 1, 5, 4, 3}, {0, 0, 5, 0, -1}, {0, -7, 5, 0, 4}, {0, -1, 0, -1, -2},
	} {
		s := command.Sort{Offset: tc.offset, Count: tc.count}
		if first, last := s.Range(tc.n); first != tc.first || last != tc.last {
			t.Errorf("LIMIT %d %d of %d: %d..%d, want %d..%d", tc.offset, tc.count, tc.n, first, last, tc.first, tc.last)
		}
	}
}

// TestSortLookup: the key (and field) a pattern forms, as lookupKeyByPattern does.
func TestSortLookup(t *testing.T) {
	for _, tc := range []struct{ pattern, want string }{
		{"#", "self"},
		{"nostar", "none"},
		{"w_*", "key=w_e field="},
		{"w_*_x", "key=w_e_x field="},
		{"h_*->f", "key=h_e field=f"},
		{"h_*->", "key=h_e-> field="},       // nothing after ->: a string key
		{"a->b_*", "key=a->b_e field="},     // -> before the '*' is part of the key
		{"h_*->f->g", "key=h_e field=f->g"}, // the first -> after the '*'
		{"x*y*", "key=xey* field="},         // only the first '*'
	} {
		p := command.SortLookup([]byte(tc.pattern), []byte("e"))
		got := fmt.Sprintf("key=%s field=%s", p.Key, p.Field)
		switch {
		case p.Self:
			got = "self"
		case p.None:
			got = "none"
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.pattern, got, tc.want)
		}
	}
}
