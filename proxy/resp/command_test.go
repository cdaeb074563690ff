package resp

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestCommandParserValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		args []string // nil: a skipped command (no Args)
		raw  bool     // Raw is set (a RESP array)
	}{
		{"set", "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", []string{"SET", "key", "value"}, true},
		{"empty arg", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", []string{"ECHO", ""}, true},
		{"binary arg", "*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\x00\xff\r\n", []string{"ECHO", "\r\n\x00\xff"}, true},
		{"zero args", "*0\r\n", nil, false},
		{"null array", "*-1\r\n", nil, false},
		{"negative count", "*-10\r\n", nil, false},
		{"inline", "PING\r\n", []string{"PING"}, false},
		{"inline LF", "PING\n", []string{"PING"}, false},
		{"inline blanks", " \t set\t a   b \r\n", []string{"set", "a", "b"}, false},
		{"empty line", "\r\n", nil, false},
		{"bare LF", "\n", nil, false},
		{"blank line", "  \t \r\n", nil, false},
		{"double quotes", `set "a b" c` + "\r\n", []string{"set", "a b", "c"}, false},
		{"single quotes", `set 'a b' c` + "\n", []string{"set", "a b", "c"}, false},
		{"escapes", `x "\n\r\t\b\a\\\"\q\x41\x7a"` + "\n", []string{"x", "\n\r\t\b\a\\\"qAz"}, false},
		{"bad hex escape", `x "\xZZ\x4"` + "\n", []string{"x", "xZZx4"}, false},
		{"single quote escape", `x 'it\'s \n'` + "\n", []string{"x", `it's \n`}, false},
		{"escaped quote first", `x '\'a'` + "\n", []string{"x", "'a"}, false},
		{"empty quoted", `x "" ''` + "\n", []string{"x", "", ""}, false},
		{"quote inside word", `a"b c" d` + "\n", []string{`ab c`, "d"}, false},
		{"quote then blank", "x \"a\"\t'b'\r\n", []string{"x", "a", "b"}, false},
		{"vertical tab is not a separator", "a\vb \vc\n", []string{"a\vb", "c"}, false},
		{"inner CR separates", "a\rb\n", []string{"a", "b"}, false},
		{"NUL is an ordinary byte", "a\x00b\n", []string{"a\x00b"}, false},
		{"star only in first byte", "a *1\n", []string{"a", "*1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p CommandParser
			in := []byte(tt.in + "*1\r\n$4\r\nNEXT\r\n")
			cmd, n, err := p.Parse(in)
			if err != nil || n != len(tt.in) {
				t.Fatalf("Parse = n %d, err %v; want n %d", n, err, len(tt.in))
			}
			if !equalArgs(cmd.Args, tt.args) {
				t.Errorf("Args = %s, want %q", argsString(cmd.Args), tt.args)
			}
			if tt.raw != (cmd.Raw != nil) || cmd.Raw != nil && string(cmd.Raw) != tt.in {
				t.Errorf("Raw = %q", cmd.Raw)
			}
			// The parser is ready for the next command.
			cmd, n, err = p.Parse(in[n:])
			if err != nil || n != 14 || cmd.String() != `"NEXT"` {
				t.Errorf("next Parse = %v, %d, %v", cmd, n, err)
			}
		})
	}
}

func TestCommandParserErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("1", DefaultMaxInlineLen+1)
	tests := []struct {
		name string
		lim  Limits
		in   string
		msg  string
	}{
		{"non-number count", Limits{}, "*x\r\n", "invalid multibulk length"},
		{"empty count", Limits{}, "*\r\n", "invalid multibulk length"},
		{"plus count", Limits{}, "*+1\r\n", "invalid multibulk length"},
		{"space count", Limits{}, "* 1\r\n", "invalid multibulk length"},
		{"leading zero count", Limits{}, "*01\r\n", "invalid multibulk length"},
		{"minus zero count", Limits{}, "*-0\r\n", "invalid multibulk length"},
		{"max int64 count", Limits{}, "*9223372036854775807\r\n", "invalid multibulk length"},
		{"overflowing count", Limits{}, "*99999999999999999999\r\n", "invalid multibulk length"},
		{"count over INT_MAX", Limits{}, "*2147483648\r\n", "invalid multibulk length"},
		{"count over MaxArgs", Limits{MaxArgs: 2}, "*3\r\n", "invalid multibulk length"},
		{"count CR without LF", Limits{}, "*1\rX", "line not terminated by CRLF"},
		{"count too long", Limits{}, "*" + long, "too big mbulk count string"},
		{"count too long for limit", Limits{MaxInlineLen: 4}, "*1234\r\n", "too big mbulk count string"},
		{"negative bulk", Limits{}, "*1\r\n$-2\r\n", "invalid bulk length"},
		{"null bulk", Limits{}, "*1\r\n$-1\r\n", "invalid bulk length"},
		{"non-number bulk", Limits{}, "*1\r\n$abc\r\n", "invalid bulk length"},
		{"empty bulk length", Limits{}, "*1\r\n$\r\n", "invalid bulk length"},
		{"max int64 bulk", Limits{}, "*1\r\n$9223372036854775807\r\n", "invalid bulk length"},
		{"min int64 bulk", Limits{}, "*1\r\n$-9223372036854775808\r\n", "invalid bulk length"},
		{"overflowing bulk", Limits{}, "*1\r\n$99999999999999999999\r\n", "invalid bulk length"},
		{"bulk over default MaxBulkLen", Limits{}, "*1\r\n$536870913\r\n", "invalid bulk length"},
		{"bulk over MaxBulkLen", Limits{MaxBulkLen: 3}, "*1\r\n$4\r\n", "invalid bulk length"},
		{"bulk count too long", Limits{}, "*1\r\n$" + long, "too big bulk count string"},
		{"not a bulk", Limits{}, "*1\r\n:1\r\n", "expected '$', got ':'"},
		{"CRLF instead of bulk", Limits{}, "*2\r\n$1\r\na\r\n\r\n", `expected '$', got '\x0d'`},
		{"bulk without CRLF", Limits{}, "*1\r\n$3\r\nfooXY", "bulk string not terminated by CRLF"},
		{"bulk with CR only", Limits{}, "*1\r\n$3\r\nfoo\rX", "bulk string not terminated by CRLF"},
		{"bulk too short", Limits{}, "*2\r\n$3\r\nab\r\n$1\r\nc\r\n", "bulk string not terminated by CRLF"},
		{"inline too long", Limits{}, strings.Repeat("a", DefaultMaxInlineLen+1), "too big inline request"},
		{"inline too long for limit", Limits{MaxInlineLen: 4}, "PING\r\n", "too big inline request"},
		{"unterminated double quote", Limits{}, `set "abc` + "\r\n", "unbalanced quotes in request"},
		{"unterminated single quote", Limits{}, `set 'abc` + "\n", "unbalanced quotes in request"},
		{"text after double quote", Limits{}, `set "abc"d` + "\n", "unbalanced quotes in request"},
		{"text after single quote", Limits{}, `set 'abc'd` + "\n", "unbalanced quotes in request"},
		{"escaped closing quote", Limits{}, `set "abc\"` + "\n", "unbalanced quotes in request"},
		{"trailing backslash", Limits{}, `set "abc\` + "\n", "unbalanced quotes in request"},
		{"too many inline args", Limits{MaxArgs: 2}, "a b c\n", "too many arguments in inline request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := CommandParser{Limits: tt.lim}
			cmd, n, err := p.Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse = %v, %d, nil; want error %q", cmd, n, tt.msg)
			}
			if msg := protoMsg(t, err); msg != tt.msg || n != 0 {
				t.Errorf("Parse = n %d, error %q; want %q", n, msg, tt.msg)
			}
			if err.Error() != "Protocol error: "+tt.msg {
				t.Errorf("Error() = %q", err.Error())
			}
			// After an error the parser starts afresh.
			if cmd, n, err := p.Parse([]byte("*1\r\n$1\r\na\r\n")); err != nil || n != 11 || len(cmd.Args) != 1 {
				t.Errorf("Parse after error = %v, %d, %v", cmd, n, err)
			}
		})
	}
}

// A header that claims a huge count or length must not make the parser allocate for it
// before the data arrives.
// (Not parallel: AllocsPerRun does not allow it.)
func TestCommandParserNoAllocationAhead(t *testing.T) {
	var p CommandParser
	for _, s := range []string{"*1000000\r\n", "*1\r\n$536870912\r\n", "*1048576\r\n$1\r\na\r\n"} {
		in := []byte(s)
		allocs := testing.AllocsPerRun(10, func() {
			p.Reset()
			if _, n, err := p.Parse(in); n != 0 || err != nil {
				t.Fatalf("Parse(%q) = %d, %v", in, n, err)
			}
		})
		if allocs > 1 || cap(p.spans) > 16 {
			t.Errorf("Parse(%q): %v allocations, %d argument slots", in, allocs, cap(p.spans))
		}
	}
}

func TestCommandParserZeroCopy(t *testing.T) {
	t.Parallel()
	var p CommandParser
	in := []byte(`GET key "quoted" 'single' "esc\n" a"b"` + "\r\n")
	cmd, _, err := p.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"GET", "key", "quoted", "single", "esc\n", "ab"}
	if !equalArgs(cmd.Args, want) {
		t.Fatalf("Args = %s", argsString(cmd.Args))
	}
	for i, inBuf := range []bool{true, true, true, true, false, false} {
		a := cmd.Args[i]
		p := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
		start := uintptr(unsafe.Pointer(&in[0]))
		if got := p >= start && p < start+uintptr(len(in)); got != inBuf {
			t.Errorf("Args[%d] %q in the buffer: %v, want %v", i, a, got, inBuf)
		}
		if cap(a) != len(a) {
			t.Errorf("Args[%d] has capacity %d beyond its length %d", i, cap(a), len(a))
		}
	}
}

func TestCommandRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"one", []string{"PING"}},
		{"set", []string{"SET", "key", "value"}},
		{"binary", []string{"SET", "k\r\n", "\x00\xff\r\n$3\r\n"}},
		{"empty args", []string{"ECHO", "", ""}},
		{"many", strings.Fields(strings.Repeat("a bb ccc ", 100))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			enc := NewCommand(tt.args...).AppendTo(nil)
			var p CommandParser
			cmd, n, err := p.Parse(enc)
			if err != nil || n != len(enc) || !equalArgs(cmd.Args, tt.args) {
				t.Fatalf("Parse = %s, %d, %v", argsString(cmd.Args), n, err)
			}
			if !bytes.Equal(cmd.AppendTo(nil), enc) {
				t.Errorf("encoding the parsed command (Raw) differs")
			}
			c := cmd.Clone()
			c.Raw = nil
			if !bytes.Equal(c.AppendTo(nil), enc) {
				t.Errorf("encoding the parsed Args differs")
			}
		})
	}
}

// commandCorpus holds pipelines that the chunking tests split in every way.
var commandCorpus = []struct {
	name string
	in   string
}{
	{"resp pipeline", strings.Repeat("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", 3)},
	{"inline pipeline", "PING\r\nset a b\nget a\r\n\r\n\n   \r\nECHO \"x y\\n\" 'z'\r\n"},
	{"mixed", "*0\r\n*-1\r\nPING\r\n*1\r\n$4\r\nPING\r\n\r\n*2\r\n$4\r\nECHO\r\n$6\r\n\r\n\r\n\r\n\r\nQUIT\n"},
	{"big bulk", "*2\r\n$4\r\nECHO\r\n$300\r\n" + strings.Repeat("x\r\n", 100) + "\r\nPING\r\n"},
	{"ends incomplete", "PING\r\n*2\r\n$4\r\nECHO\r\n$10\r\nabc"},
	{"ends in error", "PING\r\n*1\r\n$3\r\nabc\r\n*1\r\n$-2\r\nPING\r\n"},
	{"ends in bad terminator", "PING\r\n*1\r\n$3\r\nabcde\r\n"},
	{"ends in quotes error", "PING\nset \"a\r\nPING\r\n"},
}

func TestCommandParserChunked(t *testing.T) {
	t.Parallel()
	for _, tt := range commandCorpus {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.in)
			var p CommandParser
			want, wantErr := commandEvents(&p, in, nil)
			if len(want) == 0 {
				t.Fatalf("corpus entry parses to nothing (%v)", wantErr)
			}
			check := func(name string, sizes []int) {
				var p CommandParser
				got, err := commandEvents(&p, in, sizes)
				if strings.Join(got, "\n") != strings.Join(want, "\n") || errText(err) != errText(wantErr) {
					t.Errorf("%s: got %q, %v\nwant %q, %v", name, got, err, want, wantErr)
				}
			}
			for k := 1; k <= 17; k++ {
				check("chunks of "+strconv.Itoa(k), chunks(len(in), k))
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(in))))
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

// The parser's work (bytes its line searches examine) grows linearly with the input
// however it is split: a command is never scanned again from its start.
func TestCommandParserLinear(t *testing.T) {
	t.Parallel()
	many := func(n int) []byte {
		b := []byte("*" + strconv.Itoa(n) + "\r\n")
		for range n {
			b = append(b, "$1\r\nx\r\n"...)
		}
		return b
	}
	big := func(n int) []byte {
		b := []byte("*2\r\n$3\r\nSET\r\n$" + strconv.Itoa(n) + "\r\n")
		b = append(b, bytes.Repeat([]byte{'v'}, n)...)
		return append(b, "\r\n"...)
	}
	tests := []struct {
		name    string
		in      []byte
		chunk   int
		maxWork int
	}{
		// A payload is never scanned: the work is the header lines only.
		{"32 MiB bulk in 64 KiB pieces", big(32 << 20), 64 << 10, 100},
		{"64 KiB bulk in bytes", big(64 << 10), 1, 100},
		{"a million arguments in 4 KiB pieces", many(1000000), 4 << 10, 2 * 7 * 1000000},
		{"10000 arguments in bytes", many(10000), 1, 2 * 7 * 10000},
		{"long inline command in bytes", []byte(strings.Repeat("ab ", 20000) + "\r\n"), 1, 2 * 60002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p CommandParser
			calls := 0
			var cmd Command
			var n int
			var err error
			for end := tt.chunk; ; end += tt.chunk {
				calls++
				cmd, n, err = p.Parse(tt.in[:min(end, len(tt.in))])
				if n != 0 || err != nil || end >= len(tt.in) {
					break
				}
			}
			if n != len(tt.in) || err != nil || len(cmd.Args) < 2 {
				t.Fatalf("Parse = %d args, %d, %v", len(cmd.Args), n, err)
			}
			t.Logf("%d bytes in %d calls: %d bytes examined", len(tt.in), calls, p.c.work)
			if p.c.work > tt.maxWork {
				t.Errorf("%d calls examined %d bytes, want at most %d", calls, p.c.work, tt.maxWork)
			}
		})
	}
}
