package resp

import (
	"bytes"
	"testing"
)

func BenchmarkCommandParser(b *testing.B) {
	set := NewCommand("SET", "key:000123", "some value of moderate size").AppendTo(nil)
	b.Run("SET", func(b *testing.B) {
		var p CommandParser
		b.ReportAllocs()
		b.SetBytes(int64(len(set)))
		for b.Loop() {
			if _, n, err := p.Parse(set); n != len(set) || err != nil {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("pipeline of 16", func(b *testing.B) {
		pipe := bytes.Repeat(set, 16)
		var p CommandParser
		b.ReportAllocs()
		b.SetBytes(int64(len(pipe)))
		for b.Loop() {
			for buf := pipe; len(buf) > 0; {
				_, n, err := p.Parse(buf)
				if n == 0 || err != nil {
					b.Fatal(n, err)
				}
				buf = buf[n:]
			}
		}
	})
	b.Run("inline", func(b *testing.B) {
		in := []byte("SET key:000123 \"some value\\n\"\r\n")
		var p CommandParser
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, n, err := p.Parse(in); n != len(in) || err != nil {
				b.Fatal(n, err)
			}
		}
	})
}

func BenchmarkReplyParser(b *testing.B) {
	replies := []struct {
		name string
		in   []byte
	}{
		{"simple", []byte("+OK\r\n")},
		{"bulk", BulkString("some value of moderate size").AppendTo(nil)},
		{"nested", Array(BulkString("a"), Array(Integer(1), Integer(2), NullBulk),
			Value{Type: TypeMap, Elems: []Value{BulkString("k"), Value{Type: TypeDouble, Str: []byte("1.5")}}}).AppendTo(nil)},
	}
	for _, r := range replies {
		b.Run(r.name, func(b *testing.B) {
			var p ReplyParser
			b.ReportAllocs()
			b.SetBytes(int64(len(r.in)))
			for b.Loop() {
				if n, err := p.Next(r.in); n != len(r.in) || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}

func BenchmarkParseValue(b *testing.B) {
	in := Array(BulkString("a"), Array(Integer(1), Integer(2), NullBulk), OK).AppendTo(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := ParseValue(in, Limits{}); n != len(in) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkValueAppend(b *testing.B) {
	v := Array(BulkString("some value"), Integer(42), NullBulk, OK,
		Value{Type: TypeMap, Elems: []Value{BulkString("k"), Value{Type: TypeBoolean, Int: 1}}})
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		dst = v.AppendTo(dst[:0])
	}
}
