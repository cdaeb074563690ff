package resp

import "testing"

func TestRESP2(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n#t\r\n", "*4\r\n+a\r\n:1\r\n$1\r\nb\r\n:1\r\n"},
		{"~2\r\n,3.5\r\n(12345678901234567890\r\n", "*2\r\n$3\r\n3.5\r\n$20\r\n12345678901234567890\r\n"},
		{">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n_\r\n", "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$-1\r\n"},
		{"=8\r\ntxt:some\r\n", "$4\r\nsome\r\n"},
		{"!10\r\nERR a\r\nb c\r\n", "-ERR a  b c\r\n"},
		{"#f\r\n", ":0\r\n"},
		{"_\r\n", "$-1\r\n"},
		{"*-1\r\n", "*-1\r\n"},
		{"*2\r\n$1\r\na\r\n:2\r\n", "*2\r\n$1\r\na\r\n:2\r\n"},
		{"+OK\r\n", "+OK\r\n"},
		{"|1\r\n+key\r\n+val\r\n:7\r\n", ":7\r\n"},
	} {
		got := string(Raw([]byte(tc.in)).RESP2().AppendTo(nil))
		if got != tc.want {
			t.Errorf("RESP2 of %q = %q, want %q", tc.in, got, tc.want)
		}
	}
	m := Value{Type: TypeMap, Elems: []Value{BulkString("k"), {Type: TypeDouble, Str: []byte("1.5")}}}
	if got, want := string(m.RESP2().AppendTo(nil)), "*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n"; got != want {
		t.Errorf("RESP2 of a map value = %q, want %q", got, want)
	}
}
