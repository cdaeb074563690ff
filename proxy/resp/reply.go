package resp

import "bytes"

// ReplyParser delimits server replies (any RESP2 or RESP3 value, nested) in a byte stream
// without decoding them.
//
// The zero ReplyParser is ready to use, with default limits. RESP3 streamed strings and
// aggregates ($?, *?) are not supported: they are a [*ProtocolError].
type ReplyParser struct {
	Limits Limits

	seen int // length of the buffer the last Next was given

	// Progress through the current reply; see Next. Positions are offsets into the
	// buffer, so that it may move between calls.
	c      cursor
	active bool    // a reply is in progress
	bulk   int     // payload length of the bulk whose header is parsed; -1 otherwise
	stack  []int64 // elements still to come in each open aggregate, innermost last
	depth  int     // the deepest nesting of the last reply delimited
}

// keepStack is how many levels of nesting a ReplyParser keeps room for between replies:
// the room a rare deep reply needed is given back.
const keepStack = 256

// Next looks for one complete reply at the start of buf and returns its length n > 0, so
// that buf[:n] is one frame (see [Raw]). When buf holds only part of a reply it returns
// 0 and a nil error, and, like [CommandParser.Parse], resumes where it stopped when called
// again with a longer buffer that starts with the same bytes. Malformed or over-limit
// input returns a [*ProtocolError].
//
// An attribute (|) and the value it annotates are one frame: attributes are out-of-band
// data that arrive just before a reply, and a proxy must forward or drop them with it.
func (p *ReplyParser) Next(buf []byte) (n int, err error) {
	p.seen = len(buf)
	if !p.active {
		if len(buf) == 0 {
			return 0, nil
		}
		p.active, p.bulk, p.stack, p.depth = true, -1, p.stack[:0], 0
		p.c.next(0)
	}
	lim := p.Limits.withDefaults()
	for {
		if p.bulk >= 0 {
			// A payload is not scanned: only wait until all of it is there.
			if p.bulk > len(buf)-p.c.pos-2 {
				return 0, nil
			}
			end := p.c.pos + p.bulk
			if buf[end] != '\r' || buf[end+1] != '\n' {
				return p.fail(errBulkTerminator)
			}
			p.c.next(end + 2)
			p.bulk = -1
		} else {
			if p.c.pos >= len(buf) {
				return 0, nil
			}
			t := Type(buf[p.c.pos])
			if !t.known() {
				return p.fail("invalid reply type '" + quoteByte(byte(t)) + "'")
			}
			cr, err := p.c.line(buf, lim.MaxInlineLen, t.tooBig())
			if err != nil {
				p.Reset()
				return 0, err
			}
			if cr < 0 {
				return 0, nil
			}
			count, msg := header(t, buf[p.c.pos+1:cr], lim)
			if msg != "" {
				return p.fail(msg)
			}
			p.c.next(cr + 2)
			if t.aggregate() && count > 0 {
				if lim.MaxDepth > 0 && len(p.stack) >= lim.MaxDepth {
					return p.fail(errDepth)
				}
				// Each level takes at least 4 bytes of input ("*1\r\n"): the stack is
				// bounded by the reply's size.
				p.stack = append(p.stack, count)
				p.depth = max(p.depth, len(p.stack))
				continue
			}
			if t.bulk() && count >= 0 {
				p.bulk = int(count)
				continue
			}
		}
		// One value is complete: it counts for the aggregate around it, which may then
		// be complete in turn.
		if p.pop() {
			n := p.c.pos
			p.Reset()
			return n, nil
		}
	}
}

// Missing returns how many bytes the reply being delimited is known to need beyond the
// buffer the last Next was given, when that Next returned 0 and no error: the rest of a
// bulk payload whose header announced its length. 0 when nothing is known. A client
// reads a big reply into a buffer of that size at once rather than growing one step by
// step, as [CommandParser.Missing] lets a server do for a big command.
func (p *ReplyParser) Missing() int {
	if !p.active || p.bulk < 0 {
		return 0
	}
	return max(p.c.pos+p.bulk+2-p.seen, 0)
}

// pop counts one complete value and reports whether it completed the whole reply.
func (p *ReplyParser) pop() bool {
	for len(p.stack) > 0 {
		i := len(p.stack) - 1
		if p.stack[i]--; p.stack[i] > 0 {
			return false
		}
		p.stack = p.stack[:i]
	}
	return true
}

func (p *ReplyParser) fail(msg string) (int, error) {
	p.Reset()
	return 0, protoErr(msg)
}

// Reset forgets any partial reply.
func (p *ReplyParser) Reset() {
	p.active = false
	p.stack = p.stack[:0]
	if cap(p.stack) > keepStack {
		p.stack = nil
	}
}

// known reports whether t is a type a reply may start with.
func (t Type) known() bool {
	switch t {
	case TypeSimpleString, TypeError, TypeInteger, TypeBulkString, TypeArray, TypeNull,
		TypeBoolean, TypeDouble, TypeBigNumber, TypeBulkError, TypeVerbatimString,
		TypeMap, TypeSet, TypeAttribute, TypePush:
		return true
	}
	return false
}

// bulk reports whether values of type t have a length-prefixed payload.
func (t Type) bulk() bool {
	return t == TypeBulkString || t == TypeBulkError || t == TypeVerbatimString
}

// tooBig returns the message for a line of type t that exceeds MaxInlineLen.
func (t Type) tooBig() string {
	switch {
	case t.aggregate():
		return errBigMultibulk
	case t.bulk():
		return errBigBulk
	}
	return errBigLine
}

// header checks the line of a value of type t, whose text after the type byte is body.
// For an aggregate it returns how many values follow (two per map or attribute entry, and
// for an attribute also the value it annotates), for a bulk type the payload length; -1
// for the nulls $-1 and *-1; else 0. A non-empty msg says what is wrong.
func header(t Type, body []byte, lim Limits) (count int64, msg string) {
	switch t {
	case TypeSimpleString, TypeError, TypeDouble, TypeBigNumber:
		// The line ends at the first CR; an LF before it is malformed too, and would not
		// survive encoding (AppendTo replaces both).
		if bytes.IndexByte(body, '\n') >= 0 {
			return 0, errLineLF
		}
		switch {
		case t == TypeDouble && len(body) == 0:
			return 0, errDouble
		case t == TypeBigNumber && !isBigNumber(body):
			return 0, errBigNumber
		}
	case TypeInteger:
		if _, ok := parseInt(body); !ok {
			return 0, errInteger
		}
	case TypeNull:
		if len(body) != 0 {
			return 0, errNull
		}
	case TypeBoolean:
		if len(body) != 1 || body[0] != 't' && body[0] != 'f' {
			return 0, errBoolean
		}
	case TypeBulkString, TypeBulkError, TypeVerbatimString:
		n, ok := parseInt(body)
		if !ok || n < 0 && (n != -1 || t != TypeBulkString) || n > lim.MaxBulkLen {
			return 0, errBulkLen
		}
		return n, ""
	case TypeArray, TypeMap, TypeSet, TypeAttribute, TypePush:
		n, ok := parseInt(body)
		if !ok || n < 0 && (n != -1 || t != TypeArray) || n > lim.MaxElems {
			return 0, errMultibulkLen
		}
		if t == TypeMap || t == TypeAttribute {
			if n > (1<<63-2)/2 {
				return 0, errMultibulkLen // only with a MaxElems near 2^62
			}
			n *= 2
		}
		if t == TypeAttribute {
			n++
		}
		return n, ""
	}
	return 0, ""
}

// isBigNumber reports whether b is an optionally signed run of decimal digits.
func isBigNumber(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ParseValue decodes one complete value at the start of buf and returns it with its
// length. When buf holds only part of a value it returns n == 0 and a nil error. The value
// points into buf. Zero limits take their defaults.
//
// Booleans decode to Int 1 or 0, $-1 to a null bulk string and *-1 to a null array (Null
// set). Attributes are dropped: an attribute and the value it annotates decode to that
// value alone, and n covers both. ParseValue is not resumable; to wait for a value that
// arrives in pieces, delimit it with a [ReplyParser] and decode the frame once complete.
func ParseValue(buf []byte, lim Limits) (v Value, n int, err error) {
	// Delimit and validate first, so that decoding needs no error handling and can size
	// every Elems exactly: each element takes at least 3 bytes of a frame that is there,
	// so no count a peer claims can make it allocate more than the input warrants.
	rp := ReplyParser{Limits: lim}
	n, err = rp.Next(buf)
	if n == 0 {
		return Value{}, 0, err
	}
	if rp.depth > MaxDecodeDepth {
		return Value{}, 0, protoErr(errDecodeDepth)
	}
	v, _ = decode(buf[:n], 0, lim)
	return v, n, nil
}

// decode decodes the value at buf[pos], which a ReplyParser of limits lim has validated,
// and returns it with the position after it.
func decode(buf []byte, pos int, lim Limits) (Value, int) {
	t := Type(buf[pos])
	cr := pos + bytes.IndexByte(buf[pos:], '\r')
	body := buf[pos+1 : cr : cr]
	next := cr + 2
	v := Value{Type: t}
	switch t {
	case TypeSimpleString, TypeError, TypeDouble, TypeBigNumber:
		v.Str = body
	case TypeInteger:
		v.Int, _ = parseInt(body)
	case TypeBoolean:
		if body[0] == 't' {
			v.Int = 1
		}
	case TypeBulkString, TypeBulkError, TypeVerbatimString:
		l, _ := parseInt(body)
		if l < 0 {
			v.Null = true
			break
		}
		end := next + int(l)
		v.Str = buf[next:end:end]
		next = end + 2
	case TypeArray, TypeSet, TypePush, TypeMap:
		l, _ := parseInt(body)
		if l < 0 {
			v.Null = true
			break
		}
		if t == TypeMap {
			l *= 2
		}
		v.Elems = make([]Value, l)
		for i := range v.Elems {
			v.Elems[i], next = decode(buf, next, lim)
		}
	case TypeAttribute:
		l, _ := parseInt(body)
		rp := ReplyParser{Limits: lim}
		for range 2 * l {
			n, _ := rp.Next(buf[next:]) // skip an entry: cannot fail, it was validated
			next += n
		}
		return decode(buf, next, lim)
	}
	return v, next
}
