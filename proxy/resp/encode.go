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
