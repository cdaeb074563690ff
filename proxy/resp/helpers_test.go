package resp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// event is one outcome of a parser call that consumed input, as text, for comparing the
// outcomes of parsing the same stream in different pieces.
func cmdEvent(cmd Command, n int) string { return fmt.Sprintf("%d:[%s]", n, cmd) }

// feed passes data to parse in pieces of the given sizes (the rest as a last piece),
// appending each to a growing buffer and consuming complete messages the way a server
// does: keep an offset; when a message completes, move past it; when it is incomplete,
// call again after the next piece. Now and then the unconsumed rest is moved to a new
// buffer and the old one is scribbled over, so that a parser which kept a pointer instead
// of an offset, or an Args which outlived its buffer, shows. parse returns the event to
// record and the bytes it consumed. feed returns the events and the error that ended it.
// (The buffer is moved often, but not after every piece: that would make feeding a long
// message in small pieces quadratic, and the fuzzers slow.)
func feed(data []byte, sizes []int, parse func(buf []byte) (string, int, error)) ([]string, error) {
	var events []string
	var buf []byte
	off := 0
	for i := 0; len(data) > 0; i++ {
		k := len(data)
		if i < len(sizes) && sizes[i] < k {
			k = sizes[i]
		}
		buf = append(buf, data[:k]...)
		data = data[k:]
		for {
			ev, n, err := parse(buf[off:])
			if err != nil {
				return events, err
			}
			if n == 0 {
				break
			}
			if n > len(buf)-off {
				return events, fmt.Errorf("consumed %d bytes of %d", n, len(buf)-off)
			}
			events = append(events, ev)
			off += n
		}
		// Moving at pieces 0, 1, 3, 7, ... and whenever little is left keeps this linear.
		if i&(i+1) == 0 || len(buf)-off < 64 {
			old := buf
			buf = append(make([]byte, 0, len(buf)-off+64), buf[off:]...)
			off = 0
			for j := range old {
				old[j] = '#'
			}
		}
	}
	return events, nil
}

// chunks returns piece sizes that split n bytes into pieces of size k.
func chunks(n, k int) []int {
	s := make([]int, 0, n/k+1)
	for ; n > 0; n -= k {
		s = append(s, k)
	}
	return s
}

func commandEvents(p *CommandParser, data []byte, sizes []int) ([]string, error) {
	return feed(data, sizes, func(buf []byte) (string, int, error) {
		cmd, n, err := p.Parse(buf)
		if n > 0 && cmd.Raw != nil && !bytes.Equal(cmd.Raw, buf[:n]) {
			return "", 0, fmt.Errorf("Raw %q is not the %d bytes parsed", cmd.Raw, n)
		}
		return cmdEvent(cmd, n), n, err
	})
}

func replyEvents(p *ReplyParser, data []byte, sizes []int) ([]string, error) {
	return feed(data, sizes, func(buf []byte) (string, int, error) {
		n, err := p.Next(buf)
		return fmt.Sprintf("%q", buf[:n]), n, err
	})
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// protoMsg returns err's ProtocolError message, or fails t.
func protoMsg(t testing.TB, err error) string {
	t.Helper()
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *ProtocolError", err)
	}
	return pe.Msg
}

// equalValue compares values as the protocol sees them: a nil and an empty Str or Elems
// are the same.
func equalValue(a, b Value) bool {
	if a.Type != b.Type || a.Int != b.Int || a.Null != b.Null || !bytes.Equal(a.Str, b.Str) ||
		!bytes.Equal(a.Raw, b.Raw) || len(a.Elems) != len(b.Elems) {
		return false
	}
	for i := range a.Elems {
		if !equalValue(a.Elems[i], b.Elems[i]) {
			return false
		}
	}
	return true
}

func equalArgs(a [][]byte, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if string(a[i]) != b[i] {
			return false
		}
	}
	return true
}

func argsString(a [][]byte) string {
	s := make([]string, len(a))
	for i := range a {
		s[i] = fmt.Sprintf("%q", a[i])
	}
	return "[" + strings.Join(s, " ") + "]"
}
