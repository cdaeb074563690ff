package resp

import (
	"strconv"

	"github.com/tidwall/redcon"
)

// AppendTo appends v's RESP encoding to dst and returns the extended slice. A raw value is
// appended as it is; others are encoded in their own type (RESP3 types in RESP3 syntax).
// Simple strings and errors have CR and LF replaced by spaces, since they would end the
// line early.
func (v Value) AppendTo(dst []byte) []byte {
	if v.Raw != nil {
		return append(dst, v.Raw...)
	}
	switch v.Type {
	case TypeSimpleString, TypeError:
		return appendLine(dst, byte(v.Type), v.Str)
	case TypeInteger:
		return redcon.AppendInt(dst, v.Int)
	case TypeBulkString:
		if v.Null {
			return append(dst, "$-1\r\n"...)
		}
		return redcon.AppendBulk(dst, v.Str)
	case TypeArray:
		if v.Null {
			return append(dst, "*-1\r\n"...)
		}
		return appendElems(dst, TypeArray, len(v.Elems), v.Elems)
	case TypeSet, TypePush:
		return appendElems(dst, v.Type, len(v.Elems), v.Elems)
	case TypeMap, TypeAttribute:
		return appendElems(dst, v.Type, len(v.Elems)/2, v.Elems[:len(v.Elems)/2*2])
	case TypeNull:
		return append(dst, "_\r\n"...)
	case TypeBoolean:
		if v.Int != 0 {
			return append(dst, "#t\r\n"...)
		}
		return append(dst, "#f\r\n"...)
	case TypeDouble, TypeBigNumber:
		return appendLine(dst, byte(v.Type), v.Str)
	case TypeBulkError, TypeVerbatimString:
		dst = append(dst, byte(v.Type))
		dst = strconv.AppendInt(dst, int64(len(v.Str)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, v.Str...)
		return append(dst, '\r', '\n')
	}
	// The zero Value, or a Type this package does not know: encode as an error rather
	// than as a malformed frame that would desynchronise the client.
	return append(dst, "-ERR invalid reply value\r\n"...)
}

func appendLine(dst []byte, t byte, s []byte) []byte {
	dst = append(dst, t)
	start := len(dst)
	dst = append(dst, s...)
	for i := start; i < len(dst); i++ {
		if dst[i] == '\r' || dst[i] == '\n' {
			dst[i] = ' '
		}
	}
	return append(dst, '\r', '\n')
}

func appendElems(dst []byte, t Type, n int, elems []Value) []byte {
	dst = append(dst, byte(t))
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, '\r', '\n')
	for i := range elems {
		dst = elems[i].AppendTo(dst)
	}
	return dst
}

// Command is one client command: its arguments, the first of which is the command's name.
type Command struct {
	// Args are the command's arguments, name first.
	Args [][]byte
	// Raw, when set, is the exact RESP array the command arrived as. Encoders send it as
	// it is. Whoever changes Args must clear Raw.
	Raw []byte
}

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
