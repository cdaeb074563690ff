package resp

import (
	"fmt"
	"strconv"
)

// Type is the RESP type of a value: the byte that starts its encoding.
type Type byte

// The RESP2 and RESP3 types.
const (
	TypeSimpleString   Type = '+'
	TypeError          Type = '-'
	TypeInteger        Type = ':'
	TypeBulkString     Type = '$'
	TypeArray          Type = '*'
	TypeNull           Type = '_' // RESP3
	TypeBoolean        Type = '#' // RESP3
	TypeDouble         Type = ',' // RESP3
	TypeBigNumber      Type = '(' // RESP3
	TypeBulkError      Type = '!' // RESP3
	TypeVerbatimString Type = '=' // RESP3
	TypeMap            Type = '%' // RESP3
	TypeSet            Type = '~' // RESP3
	TypeAttribute      Type = '|' // RESP3
	TypePush           Type = '>' // RESP3
)

// String returns the name of the type, for messages and tests.
func (t Type) String() string {
	switch t {
	case TypeSimpleString:
		return "simple-string"
	case TypeError:
		return "error"
	case TypeInteger:
		return "integer"
	case TypeBulkString:
		return "bulk-string"
	case TypeArray:
		return "array"
	case TypeNull:
		return "null"
	case TypeBoolean:
		return "boolean"
	case TypeDouble:
		return "double"
	case TypeBigNumber:
		return "big-number"
	case TypeBulkError:
		return "bulk-error"
	case TypeVerbatimString:
		return "verbatim-string"
	case TypeMap:
		return "map"
	case TypeSet:
		return "set"
	case TypeAttribute:
		return "attribute"
	case TypePush:
		return "push"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// aggregate reports whether values of type t hold elements.
func (t Type) aggregate() bool {
	switch t {
	case TypeArray, TypeMap, TypeSet, TypeAttribute, TypePush:
		return true
	}
	return false
}

// Value is one RESP reply of any type.
//
// Which fields are meaningful depends on Type:
//
//   - Str: the text of a simple string, error, bulk string, double, big number, bulk error,
//     or verbatim string (a verbatim string keeps its "txt:" format prefix).
//   - Int: the value of an integer; 1 or 0 for a boolean.
//   - Elems: the elements of an array, set or push; a map or attribute holds its keys and
//     values alternately (k1, v1, k2, v2, ...).
//   - Null: a RESP2 null bulk string ($-1) or null array (*-1), by Type.
//
// A raw Value (Raw != nil) carries its complete encoded frame instead; Type is the frame's
// first byte and the other fields are unset until [Value.Decode]. Backends hand replies
// over raw so that a proxy forwards them without decoding.
type Value struct {
	Type  Type
	Str   []byte
	Int   int64
	Elems []Value
	Null  bool
	// Owned reports that Raw is handed over with the value: nobody modifies its bytes
	// again, so whoever takes the reply may keep them rather than copy them (see
	// proxy.ReplyWriter). A backend hands over a reply of BigFrame bytes or more so; a
	// value that is changed or re-encoded does not carry it on. (Next to Null: the two
	// share a word.)
	Owned bool
	Raw   []byte
}

// Replies that are used often, ready made. Do not modify them.
var (
	OK        = SimpleString("OK")
	Pong      = SimpleString("PONG")
	Queued    = SimpleString("QUEUED")
	NullBulk  = Value{Type: TypeBulkString, Null: true}
	NullArray = Value{Type: TypeArray, Null: true}
	// NoReply is the reply of a command Redis does not answer at all (REPLCONF ACK;
	// every command while CLIENT REPLY is OFF): written as a command's reply, it
	// completes the command and sends nothing. It is a raw value of no bytes.
	NoReply = Value{Raw: []byte{}}
)

// SimpleString returns a simple string reply (+s).
func SimpleString(s string) Value { return Value{Type: TypeSimpleString, Str: []byte(s)} }

// Error returns an error reply whose text is code, a space, and msg: Error("NOAUTH",
// "Authentication required.") is -NOAUTH Authentication required. Redis clients read code
// as the error's kind. CR and LF in msg are replaced by spaces, since they would end the
// reply early.
func Error(code, msg string) Value {
	b := make([]byte, 0, len(code)+1+len(msg))
	b = append(b, code...)
	if msg != "" {
		b = append(b, ' ')
		b = append(b, msg...)
	}
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return Value{Type: TypeError, Str: b}
}

// Errorf returns an error reply with the code ERR and a message formatted as fmt.Sprintf
// formats it: Errorf("unknown user '%s'", name) is -ERR unknown user 'bob'. The code is
// added: the format does not start with it.
func Errorf(format string, args ...any) Value { return Error("ERR", fmt.Sprintf(format, args...)) }

// ErrorFrom returns an error reply with the code ERR and err's text as its message, as
// in Error("ERR", err.Error()).
func ErrorFrom(err error) Value { return Error("ERR", err.Error()) }

// Integer returns an integer reply.
func Integer(n int64) Value { return Value{Type: TypeInteger, Int: n} }

// Bulk returns a bulk string reply holding b (not copied).
func Bulk(b []byte) Value { return Value{Type: TypeBulkString, Str: b} }

// BulkString returns a bulk string reply holding s.
func BulkString(s string) Value { return Value{Type: TypeBulkString, Str: []byte(s)} }

// Array returns an array reply of the given elements.
func Array(elems ...Value) Value {
	if elems == nil {
		elems = []Value{}
	}
	return Value{Type: TypeArray, Elems: elems}
}

// Raw returns a raw value for one complete encoded frame (not copied). The caller
// guarantees that frame is exactly one well-formed RESP value, for example one that a
// [ReplyParser] delimited.
func Raw(frame []byte) Value {
	if len(frame) == 0 {
		return Value{}
	}
	return Value{Type: Type(frame[0]), Raw: frame}
}

// RawOwned is [Raw] for a frame handed over with the value (Owned): nobody modifies its
// bytes again, so that whoever takes the value may keep them rather than copy them.
func RawOwned(frame []byte) Value {
	v := Raw(frame)
	v.Owned = v.Raw != nil
	return v
}

// IsNoReply reports whether v is [NoReply].
func (v Value) IsNoReply() bool { return v.Raw != nil && len(v.Raw) == 0 }

// IsError reports whether v is an error reply (simple or bulk error).
func (v Value) IsError() bool { return v.Type == TypeError || v.Type == TypeBulkError }

// IsNull reports whether v is a null of RESP2 or RESP3.
func (v Value) IsNull() bool {
	if v.Type == TypeNull {
		return true
	}
	if v.Raw != nil {
		// Only $-1 and *-1 are nulls: ":-1" is an integer and "+-1" a string.
		return (v.Type == TypeBulkString || v.Type == TypeArray) &&
			len(v.Raw) >= 4 && string(v.Raw[1:4]) == "-1\r"
	}
	return v.Null
}

// Decode returns v with its fields filled in from its raw frame. A value that is not raw
// is returned as it is. The result points into v.Raw. A frame that is malformed or
// incomplete is a [*ProtocolError]; an attribute in front of the value is dropped (see
// [ParseValue]).
func (v Value) Decode() (Value, error) {
	if v.Raw == nil {
		return v, nil
	}
	d, n, err := ParseValue(v.Raw, Limits{})
	if n == 0 && err == nil {
		err = protoErr(errIncomplete)
	}
	return d, err
}

// Clone returns a deep copy of v that shares no memory with it.
func (v Value) Clone() Value {
	c := v
	c.Owned = false
	if v.Raw != nil {
		c.Raw = append([]byte(nil), v.Raw...)
		return c
	}
	if v.Str != nil {
		c.Str = append([]byte(nil), v.Str...)
	}
	if v.Elems != nil {
		c.Elems = make([]Value, len(v.Elems))
		for i := range v.Elems {
			c.Elems[i] = v.Elems[i].Clone()
		}
	}
	return c
}

// String returns v's RESP encoding as a quoted Go string, for messages and tests.
func (v Value) String() string { return strconv.Quote(string(v.AppendTo(nil))) }
