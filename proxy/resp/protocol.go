package resp

// RESP2 returns v as a RESP2 client reads it, the way Redis answers a client that did not
// say HELLO 3: a map becomes an array of its keys and values in turn, a set or a push an
// array, a double or a big number a bulk string of its text, a boolean the integer 1 or
// 0, a null a null bulk string (a null array where v is an aggregate's null), a
// verbatim string a bulk string without its format, a bulk error a simple error (its
// line breaks as spaces), and an attribute is dropped. RESP2 values are returned as they
// are; a raw value is decoded first (a malformed one becomes an error reply). The result
// may share memory with v; an attribute inside an aggregate becomes NoReply there, which
// encodes as nothing.
func (v Value) RESP2() Value {
	if v.Raw != nil {
		if v.IsNoReply() || !isRESP3Frame(v.Raw) {
			return v
		}
		d, err := v.Decode()
		if err != nil {
			return Error("ERR", "invalid reply value")
		}
		v = d
	}
	switch v.Type {
	case TypeArray, TypeSet, TypePush:
		if v.Null {
			return NullArray
		}
		return Value{Type: TypeArray, Elems: resp2Elems(v.Elems)}
	case TypeMap:
		return Value{Type: TypeArray, Elems: resp2Elems(v.Elems[:len(v.Elems)/2*2])}
	case TypeAttribute:
		return NoReply
	case TypeNull:
		return NullBulk
	case TypeBoolean:
		if v.Int != 0 {
			return Integer(1)
		}
		return Integer(0)
	case TypeDouble, TypeBigNumber:
		return Value{Type: TypeBulkString, Str: v.Str}
	case TypeVerbatimString:
		s := v.Str
		if len(s) >= 4 && s[3] == ':' {
			s = s[4:]
		}
		return Value{Type: TypeBulkString, Str: s}
	case TypeBulkError:
		line := make([]byte, len(v.Str))
		for i, c := range v.Str {
			if c == '\r' || c == '\n' {
				c = ' '
			}
			line[i] = c
		}
		return Value{Type: TypeError, Str: line}
	}
	return v
}

// resp2Elems returns elems converted with RESP2, in a new slice.
func resp2Elems(elems []Value) []Value {
	out := make([]Value, len(elems))
	for i, e := range elems {
		out[i] = e.RESP2()
	}
	return out
}

// isRESP3Frame reports whether the raw frame may hold a RESP3 type anywhere: a RESP2
// frame is left raw, as it is.
func isRESP3Frame(frame []byte) bool {
	switch Type(frame[0]) {
	case TypeSimpleString, TypeError, TypeInteger, TypeBulkString:
		return false
	}
	return true // an array's elements may be RESP3: decoding tells
}
