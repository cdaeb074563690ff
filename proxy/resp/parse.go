package resp

import (
	"bytes"
	"errors"
	"strconv"
)

// Default limits, as Redis has them.
const (
	// DefaultMaxBulkLen is Redis's proto-max-bulk-len: 512 MiB.
	DefaultMaxBulkLen = 512 << 20
	// DefaultMaxArgs bounds the arguments of one command: Redis's INT_MAX. Room for
	// arguments grows as they arrive, not as a header claims.
	DefaultMaxArgs = 1<<31 - 1
	// DefaultMaxInlineLen is Redis's PROTO_INLINE_MAX_SIZE: 64 KiB.
	DefaultMaxInlineLen = 64 << 10
	// MaxDecodeDepth bounds the nesting of a reply that ParseValue and Value.Decode
	// decode: a value is decoded by recursion. Delimiting and forwarding a reply
	// (ReplyParser) knows no such bound; Redis has none either (a script may return
	// thousands of nested tables).
	MaxDecodeDepth = 1 << 16
	// DefaultMaxElems bounds the elements of one aggregate reply.
	DefaultMaxElems = 1 << 30
)

// Limits bound what a parser accepts. A zero field takes its default.
//
// MaxInlineLen bounds every line that is not a bulk payload: an inline command, the
// "*<n>" and "$<n>" header lines of commands, and every line of a reply (simple strings,
// errors, numbers, headers).
type Limits struct {
	MaxBulkLen   int64 // longest bulk string (DefaultMaxBulkLen)
	MaxArgs      int   // most arguments of one command (DefaultMaxArgs)
	MaxInlineLen int   // longest inline command or header line (DefaultMaxInlineLen)
	MaxDepth     int   // deepest nesting of a reply; 0: no limit, as in Redis
	MaxElems     int64 // most elements of one aggregate reply (DefaultMaxElems)
}

// withDefaults returns l with its zero (or negative, which would make no sense) fields
// replaced by the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxBulkLen <= 0 {
		l.MaxBulkLen = DefaultMaxBulkLen
	}
	if l.MaxArgs <= 0 {
		l.MaxArgs = DefaultMaxArgs
	}
	if l.MaxInlineLen <= 0 {
		l.MaxInlineLen = DefaultMaxInlineLen
	}
	if l.MaxDepth < 0 {
		l.MaxDepth = 0
	}
	if l.MaxElems <= 0 {
		l.MaxElems = DefaultMaxElems
	}
	return l
}

// ProtocolError is malformed or over-limit input. Its text is the one Redis uses
// ("Protocol error: invalid bulk length"); a server answers it as -ERR and closes the
// connection, since the stream cannot be resynchronised.
type ProtocolError struct {
	Msg string // without the "Protocol error: " prefix

	unauth bool // over the limits of an unauthenticated client: ErrUnauthenticated
}

// Is reports whether target is ErrUnauthenticated and e is such an error.
func (e *ProtocolError) Is(target error) bool { return e.unauth && target == ErrUnauthenticated }

// Error returns the message as Redis words it: "Protocol error: " and Msg.
func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

func protoErr(msg string) error { return &ProtocolError{Msg: msg} }

// The limits of CommandParser.Unauthenticated, Redis's (networking.c).
const (
	UnauthMaxArgs    = 10
	UnauthMaxBulkLen = 16384
)

// ErrUnauthenticated is the protocol error of a command over the limits of
// CommandParser.Unauthenticated; errors.Is finds it in either of its two texts,
// "Protocol error: unauthenticated multibulk length" and "... bulk length", Redis's.
var ErrUnauthenticated = errors.New("resp: over the limits of an unauthenticated client")

var (
	errUnauthArgs error = &ProtocolError{Msg: "unauthenticated multibulk length", unauth: true}
	errUnauthBulk error = &ProtocolError{Msg: "unauthenticated bulk length", unauth: true}
)

// Messages of protocol errors. Those that Redis has are spelt as Redis spells them
// (networking.c, processMultibulkBuffer and processInlineBuffer).
const (
	errMultibulkLen   = "invalid multibulk length"
	errBulkLen        = "invalid bulk length"
	errBigMultibulk   = "too big mbulk count string"
	errBigBulk        = "too big bulk count string"
	errBigInline      = "too big inline request"
	errQuotes         = "unbalanced quotes in request"
	errInlineArgs     = "too many arguments in inline request"
	errBulkTerminator = "bulk string not terminated by CRLF"
	errLineTerminator = "line not terminated by CRLF"
	errBigLine        = "too big reply line"
	errLineLF         = "unexpected LF in line"
	errDepth          = "reply nested too deep"
	errDecodeDepth    = "reply nested too deep to decode"
	errInteger        = "invalid integer"
	errBigNumber      = "invalid big number"
	errDouble         = "invalid double"
	errBoolean        = "invalid boolean"
	errNull           = "invalid null"
	errIncomplete     = "incomplete value"
)

// quoteByte returns c for a message: as it is when printable, else as \xHH, so that a
// message never carries a CR or LF that would end the error reply early.
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return `\x` + strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16)
}

// parseInt parses a length or an integer the way Redis's string2ll does: an optional '-'
// and decimal digits, without '+', spaces or leading zeros ("0" alone is fine), and
// without overflowing an int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if u > (1<<63-d)/10 {
			return 0, false // would exceed 2^63, which only -2^63 may reach
		}
		u = u*10 + d
	}
	if neg {
		return -int64(u), true // -int64(1<<63) wraps to itself, the least int64
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// cursor is the progress both parsers keep through an incomplete message. It holds
// offsets into the buffer, never pointers, because the next call may get the same bytes
// in a different (moved or grown) slice.
type cursor struct {
	pos  int // where the element being parsed starts
	scan int // where the search for the end of the current line resumes
	work int // bytes examined by line searches, never reset: tests use it to prove linearity
}

// next moves to the element that starts at pos. Its first byte is a type byte, so the
// search for the end of its line starts after it.
func (c *cursor) next(pos int) {
	c.pos = pos
	c.scan = pos + 1
}

// find looks for the byte term that ends the line starting at c.pos, among the first
// max+1 bytes of the line. It returns the index of term in buf, or -1 with a nil error
// when buf ends before it, or a ProtocolError of the message tooBig when the line is
// longer than max. The search resumes where the last one stopped, so each byte is looked
// at once however many calls a long line takes.
func (c *cursor) find(buf []byte, term byte, max int, tooBig string) (int, error) {
	end := len(buf)
	if rest := end - c.pos; rest > max {
		end = c.pos + max + 1
	}
	if c.scan < end {
		if i := bytes.IndexByte(buf[c.scan:end], term); i >= 0 {
			c.work += i + 1
			c.scan += i
			return c.scan, nil
		}
		c.work += end - c.scan
		c.scan = end
	}
	if len(buf)-c.pos > max {
		return -1, protoErr(tooBig)
	}
	return -1, nil
}

// line is find for a line that ends in CRLF. It returns the index of the CR, or -1 while
// the line or its LF has not arrived.
func (c *cursor) line(buf []byte, max int, tooBig string) (int, error) {
	cr, err := c.find(buf, '\r', max, tooBig)
	if cr < 0 || err != nil {
		return -1, err
	}
	if cr+1 >= len(buf) {
		return -1, nil // the search resumes at the CR, once the LF is there
	}
	if buf[cr+1] != '\n' {
		return -1, protoErr(errLineTerminator)
	}
	return cr, nil
}
