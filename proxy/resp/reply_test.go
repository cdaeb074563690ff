package resp

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestReplyParserValid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"simple string", "+OK\r\n"},
		{"empty simple string", "+\r\n"},
		{"error", "-ERR unknown command\r\n"},
		{"integer", ":1000\r\n"},
		{"negative integer", ":-9223372036854775808\r\n"},
		{"bulk", "$5\r\nhello\r\n"},
		{"bulk with CRLF inside", "$4\r\n\r\n\r\n\r\n"},
		{"empty bulk", "$0\r\n\r\n"},
		{"null bulk", "$-1\r\n"},
		{"array", "*2\r\n$3\r\nfoo\r\n:1\r\n"},
		{"empty array", "*0\r\n"},
		{"null array", "*-1\r\n"},
		{"nested", "*2\r\n*2\r\n:1\r\n*0\r\n*1\r\n*1\r\n+x\r\n"},
		{"null", "_\r\n"},
		{"true", "#t\r\n"},
		{"false", "#f\r\n"},
		{"double", ",3.14\r\n"},
		{"double inf", ",-inf\r\n"},
		{"big number", "(3492890328409238509324850943850943825024385\r\n"},
		{"negative big number", "(-1\r\n"},
		{"bulk error", "!21\r\nSYNTAX invalid syntax\r\n"},
		{"verbatim", "=15\r\ntxt:Some string\r\n"},
		{"map", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"},
		{"empty map", "%0\r\n"},
		{"set", "~2\r\n+a\r\n+b\r\n"},
		{"push", ">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n"},
		{"attribute", "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n"},
		{"empty attribute", "|0\r\n:1\r\n"},
		{"attribute on attribute", "|0\r\n|1\r\n+k\r\n+v\r\n:1\r\n"},
		{"attribute inside array", "*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p ReplyParser
			in := []byte(tt.in + ":42\r\n")
			n, err := p.Next(in)
			if err != nil || n != len(tt.in) {
				t.Fatalf("Next = %d, %v; want %d", n, err, len(tt.in))
			}
			if n, err := p.Next(in[n:]); n != 5 || err != nil {
				t.Errorf("next Next = %d, %v", n, err)
			}
			for i := range len(tt.in) {
				var p ReplyParser
				if n, err := p.Next(in[:i]); n != 0 || err != nil {
					t.Fatalf("Next of %d bytes = %d, %v", i, n, err)
				}
			}
		})
	}
}

func TestReplyParserErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		lim  Limits
		in   string
		msg  string
	}{
		{"unknown type", Limits{}, "?x\r\n", "invalid reply type '?'"},
		{"CR type", Limits{}, "\r\n", `invalid reply type '\x0d'`},
		{"streamed string", Limits{}, "$?\r\n;4\r\nabcd\r\n;0\r\n", "invalid bulk length"},
		{"negative bulk", Limits{}, "$-2\r\n", "invalid bulk length"},
		{"null bulk error", Limits{}, "!-1\r\n", "invalid bulk length"},
		{"null verbatim", Limits{}, "=-1\r\n", "invalid bulk length"},
		{"max int64 bulk", Limits{}, "$9223372036854775807\r\n", "invalid bulk length"},
		{"bulk over MaxBulkLen", Limits{MaxBulkLen: 2}, "$3\r\nabc\r\n", "invalid bulk length"},
		{"bulk terminator", Limits{}, "$3\r\nabcd\r\n", "bulk string not terminated by CRLF"},
		{"negative array", Limits{}, "*-2\r\n", "invalid multibulk length"},
		{"null map", Limits{}, "%-1\r\n", "invalid multibulk length"},
		{"null set", Limits{}, "~-1\r\n", "invalid multibulk length"},
		{"array over MaxElems", Limits{}, "*1073741825\r\n", "invalid multibulk length"},
		{"map over MaxElems", Limits{MaxElems: 1}, "%2\r\n", "invalid multibulk length"},
		{"huge map", Limits{MaxElems: 1 << 62}, "%4611686018427387904\r\n", "invalid multibulk length"},
		{"max int64 array", Limits{}, "*9223372036854775807\r\n", "invalid multibulk length"},
		{"non-number count", Limits{}, "*x\r\n", "invalid multibulk length"},
		{"too deep for limit", Limits{MaxDepth: 2}, "*1\r\n%1\r\n>1\r\n:1\r\n", "reply nested too deep"},
		{"attribute too deep", Limits{MaxDepth: 2}, "|0\r\n|0\r\n|0\r\n:1\r\n", "reply nested too deep"},
		{"bad integer", Limits{}, ":abc\r\n", "invalid integer"},
		{"plus integer", Limits{}, ":+1\r\n", "invalid integer"},
		{"empty integer", Limits{}, ":\r\n", "invalid integer"},
		{"overflowing integer", Limits{}, ":9223372036854775808\r\n", "invalid integer"},
		{"bad boolean", Limits{}, "#x\r\n", "invalid boolean"},
		{"long boolean", Limits{}, "#tt\r\n", "invalid boolean"},
		{"bad null", Limits{}, "_x\r\n", "invalid null"},
		{"empty double", Limits{}, ",\r\n", "invalid double"},
		{"bad big number", Limits{}, "(12a\r\n", "invalid big number"},
		{"empty big number", Limits{}, "(\r\n", "invalid big number"},
		{"LF in simple string", Limits{}, "+a\nb\r\n", "unexpected LF in line"},
		{"CR without LF", Limits{}, "+OK\rX", "line not terminated by CRLF"},
		{"line too long", Limits{}, "+" + strings.Repeat("a", DefaultMaxInlineLen+1), "too big reply line"},
		{"line too long for limit", Limits{MaxInlineLen: 3}, "+abc\r\n", "too big reply line"},
		{"count too long for limit", Limits{MaxInlineLen: 3}, "*100\r\n", "too big mbulk count string"},
		{"length too long for limit", Limits{MaxInlineLen: 3}, "$100\r\n", "too big bulk count string"},
		{"error inside array", Limits{}, "*2\r\n:1\r\n:x\r\n", "invalid integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := ReplyParser{Limits: tt.lim}
			n, err := p.Next([]byte(tt.in))
			if err == nil {
				t.Fatalf("Next = %d, nil; want error %q", n, tt.msg)
			}
			if msg := protoMsg(t, err); msg != tt.msg || n != 0 {
				t.Errorf("Next = %d, error %q; want %q", n, msg, tt.msg)
			}
			if n, err := p.Next([]byte(":1\r\n")); n != 4 || err != nil {
				t.Errorf("Next after error = %d, %v", n, err)
			}
			if _, n, err := ParseValue([]byte(tt.in), tt.lim); n != 0 || errText(err) != "Protocol error: "+tt.msg {
				t.Errorf("ParseValue = %d, %v", n, err)
			}
		})
	}
}

// A header that claims a huge count or length must not make the parsers allocate for it.
// (Not parallel: AllocsPerRun does not allow it.)
func TestReplyParserNoAllocationAhead(t *testing.T) {
	var p ReplyParser
	for _, s := range []string{"*1073741824\r\n", "%1073741824\r\n", "$536870912\r\n", "*2\r\n*1073741824\r\n"} {
		in := []byte(s)
		p.Next([]byte("*1\r\n*1\r\n:1\r\n")) // let the stack grow first
		allocs := testing.AllocsPerRun(10, func() {
			p.Reset()
			if n, err := p.Next(in); n != 0 || err != nil {
				t.Fatalf("Next(%q) = %d, %v", in, n, err)
			}
		})
		if allocs != 0 {
			t.Errorf("Next(%q): %v allocations", in, allocs)
		}
		allocs = testing.AllocsPerRun(10, func() {
			if _, n, err := ParseValue(in, Limits{}); n != 0 || err != nil {
				t.Fatalf("ParseValue(%q) = %d, %v", in, n, err)
			}
		})
		if allocs > 2 { // the nesting stack of a fresh parser, nothing for the count
			t.Errorf("ParseValue(%q): %v allocations", in, allocs)
		}
	}
}

var replyCorpus = []struct{ name, in string }{
	{"resp2", "+OK\r\n-ERR x\r\n:1\r\n$3\r\nfoo\r\n$-1\r\n*-1\r\n*3\r\n:1\r\n$0\r\n\r\n*1\r\n+x\r\n"},
	{"resp3", "_\r\n#t\r\n,1.5\r\n(123\r\n!3\r\nerr\r\n=7\r\ntxt:abc\r\n%1\r\n+k\r\n~2\r\n:1\r\n:2\r\n>2\r\n+a\r\n+b\r\n"},
	{"attributes", "|1\r\n+a\r\n+b\r\n:1\r\n*2\r\n|0\r\n:1\r\n|1\r\n+a\r\n*1\r\n:1\r\n+c\r\n"},
	{"binary bulk", "$10\r\n\r\n\r\n\r\n\r\n\r\n\r\n*1\r\n$2\r\n\r\n\r\n"},
	{"ends incomplete", "+OK\r\n*2\r\n$3\r\nfoo\r\n:"},
	{"ends in error", "+OK\r\n*2\r\n:1\r\n#x\r\n"},
	{"ends in bad terminator", ":1\r\n$1\r\nab\r\n"},
}

func TestReplyParserChunked(t *testing.T) {
	t.Parallel()
	for _, tt := range replyCorpus {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.in)
			var p ReplyParser
			want, wantErr := replyEvents(&p, in, nil)
			if len(want) == 0 {
				t.Fatalf("corpus entry parses to nothing (%v)", wantErr)
			}
			check := func(name string, sizes []int) {
				var p ReplyParser
				got, err := replyEvents(&p, in, sizes)
				if strings.Join(got, "\n") != strings.Join(want, "\n") || errText(err) != errText(wantErr) {
					t.Errorf("%s: got %q, %v\nwant %q, %v", name, got, err, want, wantErr)
				}
			}
			for k := 1; k <= 17; k++ {
				check("chunks of "+strconv.Itoa(k), chunks(len(in), k))
			}
			rng := rand.New(rand.NewPCG(2, uint64(len(in))))
			for range 50 {
				sizes := make([]int, 0, len(in))
				for n := len(in); n > 0; {
					k := 1 + rng.IntN(min(n, 40))
					sizes = append(sizes, k)
					n -= k
				}
				check("random", sizes)
			}
		})
	}
}

// See TestCommandParserLinear.
func TestReplyParserLinear(t *testing.T) {
	t.Parallel()
	ints := func(n int) []byte {
		b := []byte("*" + strconv.Itoa(n) + "\r\n")
		for range n {
			b = append(b, ":1\r\n"...)
		}
		return b
	}
	big := "$" + strconv.Itoa(32<<20) + "\r\n" + strings.Repeat("v", 32<<20) + "\r\n"
	deep := strings.Repeat("*1\r\n", 8000) + ":1\r\n"
	tests := []struct {
		name    string
		in      []byte
		chunk   int
		maxWork int
	}{
		{"32 MiB bulk in 64 KiB pieces", []byte(big), 64 << 10, 100},
		{"a million integers in 4 KiB pieces", ints(1000000), 4 << 10, 2 * 4 * 1000000},
		{"10000 integers in bytes", ints(10000), 1, 3 * 4 * 10000},
		{"deep nesting in bytes", []byte(deep), 1, 3 * len(deep)},
		{"long line in bytes", []byte("+" + strings.Repeat("x", 60000) + "\r\n"), 1, 60010},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p ReplyParser
			calls, n := 0, 0
			var err error
			for end := tt.chunk; ; end += tt.chunk {
				calls++
				n, err = p.Next(tt.in[:min(end, len(tt.in))])
				if n != 0 || err != nil || end >= len(tt.in) {
					break
				}
			}
			if n != len(tt.in) || err != nil {
				t.Fatalf("Next = %d, %v", n, err)
			}
			t.Logf("%d bytes in %d calls: %d bytes examined", len(tt.in), calls, p.c.work)
			if p.c.work > tt.maxWork {
				t.Errorf("%d calls examined %d bytes, want at most %d", calls, p.c.work, tt.maxWork)
			}
		})
	}
}

// TestReplyParserMissing checks what the parser knows a reply still needs: the rest of
// a bulk payload whose header it has read, counted from the end of the last buffer it
// was given, and nothing before that header or once the reply is complete.
func TestReplyParserMissing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in, more string // more is appended for a second Next, when set
		want     int
	}{
		{"bulk header", "$100\r\n", "", 102},
		{"part of the payload", "$100\r\n" + strings.Repeat("x", 60), "", 42},
		{"payload without CRLF", "$5\r\nhello", "", 2},
		{"payload without LF", "$5\r\nhello\r", "", 1},
		{"bulk error", "!10\r\nERR", "", 9},
		{"verbatim", "=10\r\ntxt:", "", 8},
		{"bulk in an array", "*2\r\n$3\r\nfoo\r\n$10\r\nab", "", 10},
		{"resumed", "$100\r\n", strings.Repeat("x", 50), 52},
		{"header incomplete", "$100", "", 0},
		{"between elements", "*2\r\n:1\r\n", "", 0},
		{"line", "+OK", "", 0},
		{"nothing", "", "", 0},
		{"complete", "$3\r\nabc\r\n", "", 0},
		{"complete after waiting", "$3\r\n", "abc\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p ReplyParser
			if _, err := p.Next([]byte(tt.in)); err != nil {
				t.Fatalf("Next(%q): %v", tt.in, err)
			}
			if tt.more != "" {
				if _, err := p.Next([]byte(tt.in + tt.more)); err != nil {
					t.Fatalf("Next(%q): %v", tt.in+tt.more, err)
				}
			}
			if got := p.Missing(); got != tt.want {
				t.Errorf("Missing() = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRawOwned checks that RawOwned hands a frame over as Raw does, marked Owned, and
// that a copy of it is not Owned.
func TestRawOwned(t *testing.T) {
	t.Parallel()
	frame := []byte("$3\r\nabc\r\n")
	v := RawOwned(frame)
	if !v.Owned || v.Type != TypeBulkString || &v.Raw[0] != &frame[0] || len(v.Raw) != len(frame) {
		t.Errorf("RawOwned(%q) = %+v: want the frame itself, Owned", frame, v)
	}
	if c := v.Clone(); c.Owned {
		t.Errorf("Clone of an owned value is Owned")
	}
	if v := RawOwned(nil); v.Owned || v.Raw != nil {
		t.Errorf("RawOwned(nil) = %+v, want the zero Value", v)
	}
}

func TestParseValue(t *testing.T) {
	t.Parallel()
	str := func(t Type, s string) Value { return Value{Type: t, Str: []byte(s)} }
	tests := []struct {
		name string
		in   string
		want Value
	}{
		{"simple string", "+OK\r\n", OK},
		{"error", "-ERR x\r\n", Error("ERR", "x")},
		{"integer", ":-5\r\n", Integer(-5)},
		{"bulk", "$2\r\n\r\n\r\n", BulkString("\r\n")},
		{"null bulk", "$-1\r\n", NullBulk},
		{"null array", "*-1\r\n", NullArray},
		{"empty array", "*0\r\n", Array()},
		{"array", "*2\r\n:1\r\n*1\r\n+x\r\n", Array(Integer(1), Array(SimpleString("x")))},
		{"null", "_\r\n", Value{Type: TypeNull}},
		{"true", "#t\r\n", Value{Type: TypeBoolean, Int: 1}},
		{"false", "#f\r\n", Value{Type: TypeBoolean}},
		{"double", ",1.5\r\n", str(TypeDouble, "1.5")},
		{"big number", "(-12345678901234567890\r\n", str(TypeBigNumber, "-12345678901234567890")},
		{"bulk error", "!3\r\nERR\r\n", str(TypeBulkError, "ERR")},
		{"verbatim", "=7\r\ntxt:abc\r\n", str(TypeVerbatimString, "txt:abc")},
		{"map", "%1\r\n+k\r\n:1\r\n", Value{Type: TypeMap, Elems: []Value{SimpleString("k"), Integer(1)}}},
		{"set", "~1\r\n:1\r\n", Value{Type: TypeSet, Elems: []Value{Integer(1)}}},
		{"push", ">1\r\n:1\r\n", Value{Type: TypePush, Elems: []Value{Integer(1)}}},
		{"attribute dropped", "|1\r\n+k\r\n*1\r\n:1\r\n:7\r\n", Integer(7)},
		{"attribute in array", "*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n", Array(Integer(1), Integer(2))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.in + "+next\r\n")
			v, n, err := ParseValue(in, Limits{})
			if err != nil || n != len(tt.in) || !equalValue(v, tt.want) {
				t.Fatalf("ParseValue = %v (%+v), %d, %v; want %v", v, v, n, err, tt.want)
			}
			if _, n, err := ParseValue(in[:len(tt.in)-1], Limits{}); n != 0 || err != nil {
				t.Errorf("ParseValue of a part = %d, %v", n, err)
			}
			d, err := Raw(in[:n]).Decode()
			if err != nil || !equalValue(d, tt.want) {
				t.Errorf("Decode = %v, %v", d, err)
			}
		})
	}
}

func TestValueRoundTrip(t *testing.T) {
	t.Parallel()
	str := func(t Type, s string) Value { return Value{Type: t, Str: []byte(s)} }
	m := Value{Type: TypeMap, Elems: []Value{BulkString("a"), Integer(1), BulkString("b"), NullBulk}}
	tests := []struct {
		name string
		v    Value
	}{
		{"simple string", Pong},
		{"error", Error("WRONGTYPE", "Operation against a key")},
		{"integer", Integer(-9223372036854775808)},
		{"bulk", Bulk([]byte("\x00\r\n\xff"))},
		{"empty bulk", BulkString("")},
		{"null bulk", NullBulk},
		{"null array", NullArray},
		{"array", Array(OK, Integer(2), Array(), Array(NullBulk))},
		{"null", Value{Type: TypeNull}},
		{"true", Value{Type: TypeBoolean, Int: 1}},
		{"false", Value{Type: TypeBoolean}},
		{"double", str(TypeDouble, "-inf")},
		{"big number", str(TypeBigNumber, "12345678901234567890")},
		{"bulk error", str(TypeBulkError, "ERR\r\nmulti-line")},
		{"verbatim", str(TypeVerbatimString, "mkd:# title\r\n")},
		{"map", m},
		{"set", Value{Type: TypeSet, Elems: []Value{Integer(1), BulkString("x")}}},
		{"push", Value{Type: TypePush, Elems: []Value{BulkString("message"), m}}},
		{"raw", Raw([]byte("*1\r\n:1\r\n"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			enc := tt.v.AppendTo(nil)
			v, n, err := ParseValue(enc, Limits{})
			want, _ := tt.v.Decode()
			if err != nil || n != len(enc) || !equalValue(v, want) {
				t.Fatalf("ParseValue(%q) = %v, %d, %v", enc, v, n, err)
			}
			var p ReplyParser
			if n, err := p.Next(enc); n != len(enc) || err != nil {
				t.Errorf("Next(%q) = %d, %v", enc, n, err)
			}
			if c := v.Clone(); !equalValue(c, want) || !bytes.Equal(c.AppendTo(nil), enc) {
				t.Errorf("Clone = %v", c)
			}
		})
	}
	t.Run("attribute", func(t *testing.T) {
		t.Parallel()
		attr := Value{Type: TypeAttribute, Elems: []Value{SimpleString("ttl"), Integer(3)}}
		enc := Integer(1).AppendTo(attr.AppendTo(nil))
		v, n, err := ParseValue(enc, Limits{})
		if err != nil || n != len(enc) || !equalValue(v, Integer(1)) {
			t.Fatalf("ParseValue(%q) = %v, %d, %v", enc, v, n, err)
		}
	})
}

func TestValueIsNull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    Value
		want bool
	}{
		{"null bulk", NullBulk, true},
		{"null array", NullArray, true},
		{"null", Value{Type: TypeNull}, true},
		{"empty bulk", BulkString(""), false},
		{"raw null bulk", Raw([]byte("$-1\r\n")), true},
		{"raw null array", Raw([]byte("*-1\r\n")), true},
		{"raw null", Raw([]byte("_\r\n")), true},
		{"raw minus one", Raw([]byte(":-1\r\n")), false},
		{"raw minus ten", Raw([]byte(":-10\r\n")), false},
		{"raw string", Raw([]byte("+-1\r\n")), false},
		{"raw bulk", Raw([]byte("$2\r\n-1\r\n")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.v.IsNull(); got != tt.want {
				t.Errorf("IsNull(%v) = %v", tt.v, got)
			}
		})
	}
}

func TestDecodeIncomplete(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"*2\r\n:1\r\n", "$5\r\nab", "#x\r\n"} {
		if v, err := Raw([]byte(raw)).Decode(); err == nil {
			t.Errorf("Decode(%q) = %v, nil; want an error", raw, v)
		} else {
			protoMsg(t, err)
		}
	}
}

func TestParseInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true}, {"123", 123, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"99999999999999999999", 0, false}, {"18446744073709551616", 0, false},
		{"", 0, false}, {"-", 0, false}, {"+1", 0, false}, {" 1", 0, false}, {"1 ", 0, false},
		{"01", 0, false}, {"-0", 0, false}, {"00", 0, false}, {"1a", 0, false}, {"--1", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseInt([]byte(tt.in)); got != tt.want || ok != tt.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestDeepReplies checks that replies nested as deep as Redis makes them (a script
// returning a table that contains itself: about 8,000 levels) are delimited and decoded,
// that a parser gives back the room a deep reply took, and that decoding, which
// recurses, refuses what is deeper than MaxDecodeDepth instead of exhausting the stack.
func TestDeepReplies(t *testing.T) {
	t.Parallel()
	for _, depth := range []int{64, 8000, 100000} {
		in := []byte(strings.Repeat("*1\r\n", depth) + ":1\r\n" + "+next\r\n")
		var p ReplyParser
		n, err := p.Next(in)
		if err != nil || n != len(in)-len("+next\r\n") {
			t.Fatalf("depth %d: Next = %d, %v", depth, n, err)
		}
		if cap(p.stack) > keepStack {
			t.Errorf("depth %d: the parser keeps room for %d levels", depth, cap(p.stack))
		}
		if m, err := p.Next(in[n:]); err != nil || m != len("+next\r\n") {
			t.Errorf("depth %d: the next reply: %d, %v", depth, m, err)
		}
		v, _, err := ParseValue(in, Limits{})
		if depth > MaxDecodeDepth {
			if err == nil {
				t.Errorf("depth %d: decoded", depth)
			}
			continue
		}
		if err != nil {
			t.Fatalf("depth %d: ParseValue: %v", depth, err)
		}
		for range depth {
			if len(v.Elems) != 1 {
				t.Fatalf("depth %d: decoded %v", depth, v)
			}
			v = v.Elems[0]
		}
		if v.Type != TypeInteger || v.Int != 1 {
			t.Fatalf("depth %d: innermost %v", depth, v)
		}
	}
}
