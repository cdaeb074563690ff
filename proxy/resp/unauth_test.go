package resp

import (
	"errors"
	"strings"
	"testing"
)

// TestUnauthenticatedLimits checks Redis's limits for an unauthenticated client: found
// from the headers, before the payload, with Redis's texts; at the limits, allowed.
func TestUnauthenticatedLimits(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"*11\r\n", "Protocol error: unauthenticated multibulk length"},
		{"*2\r\n$3\r\nGET\r\n$16385\r\n", "Protocol error: unauthenticated bulk length"},
		{"*10\r\n", ""},
		{"*2\r\n$3\r\nGET\r\n$16384\r\n" + strings.Repeat("x", 16384) + "\r\n", ""},
		{"*3000000000\r\n", "Protocol error: invalid multibulk length"}, // over INT_MAX: Redis checks that first
	} {
		p := CommandParser{Unauthenticated: true}
		_, _, err := p.Parse([]byte(tc.in))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v, want no error", tc.in, err)
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
		case tc.err != "" && errors.Is(err, ErrUnauthenticated) != strings.Contains(tc.err, "unauthenticated"):
			t.Errorf("%q: errors.Is(%v, ErrUnauthenticated) is wrong", tc.in, err)
		}
		p = CommandParser{}
		if _, _, err := p.Parse([]byte(tc.in)); err != nil && strings.Contains(tc.err, "unauthenticated") {
			t.Errorf("%q without Unauthenticated: %v", tc.in, err)
		}
	}
}

// TestMissing checks what the parser knows a command still needs: the rest of an
// argument whose header it has read, and nothing before that.
func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n", 102},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n" + strings.Repeat("x", 60), 42},
		{"*3\r\n$3\r\nSET\r\n", 0},
		{"*3\r\n$3\r\nSE", 3},
		{"PING", 0},
	} {
		var p CommandParser
		if _, n, err := p.Parse([]byte(tc.in)); n != 0 || err != nil {
			t.Fatalf("%q: parsed %d bytes, error %v: want an incomplete command", tc.in, n, err)
		}
		if got := p.Missing(); got != tc.want {
			t.Errorf("%q: Missing() = %d, want %d", tc.in, got, tc.want)
		}
	}
}
