package resp

import (
	"strconv"

	"github.com/tidwall/redcon"
)

// Command is one client command: its arguments, the first of which is the command's name.
type Command struct {
	// Args are the command's arguments, name first.
	Args [][]byte
	// Raw, when set, is the exact RESP array the command arrived as. Encoders send it as
	// it is. Whoever changes Args must clear Raw.
	Raw []byte
	// Owned reports that Raw is handed over with the command: nobody modifies its bytes
	// again, so whoever sends the command may keep them and write them as the socket
	// takes them, rather than copying them first. The proxy hands over a client's
	// command of BigFrame bytes or more so; whoever changes Raw must clear it.
	Owned bool
}

// BigFrame is the size from which the proxy hands a command or a reply over (Owned)
// rather than copying it: from it on, a copy costs more memory than the bookkeeping of
// an owned buffer costs time.
const BigFrame = 1 << 20

// NewCommand returns a command of the given arguments, for tests and examples.
func NewCommand(args ...string) Command {
	c := Command{Args: make([][]byte, len(args))}
	for i, a := range args {
		c.Args[i] = []byte(a)
	}
	return c
}

// AppendTo appends c's RESP encoding (an array of bulk strings, or Raw when set) to dst
// and returns the extended slice.
func (c Command) AppendTo(dst []byte) []byte {
	if c.Raw != nil {
		return append(dst, c.Raw...)
	}
	dst = redcon.AppendArray(dst, len(c.Args))
	for _, a := range c.Args {
		dst = redcon.AppendBulk(dst, a)
	}
	return dst
}

// Clone returns a deep copy of c that shares no memory with it.
func (c Command) Clone() Command {
	n := len(c.Raw)
	for _, a := range c.Args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := Command{Args: make([][]byte, len(c.Args))}
	if c.Raw != nil {
		buf = append(buf, c.Raw...)
		out.Raw = buf[:len(c.Raw):len(c.Raw)]
	}
	for i, a := range c.Args {
		s := len(buf)
		buf = append(buf, a...)
		out.Args[i] = buf[s:len(buf):len(buf)]
	}
	return out
}

// String returns the command's arguments quoted and joined by spaces, for messages and
// tests.
func (c Command) String() string {
	var b []byte
	for i, a := range c.Args {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendQuote(b, string(a))
	}
	return string(b)
}
