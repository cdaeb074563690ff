package resp

import (
	"bytes"
	"strings"
	"testing"
)

// smallLimits make the fuzzers reach every limit with short inputs.
var smallLimits = Limits{MaxBulkLen: 8, MaxArgs: 3, MaxInlineLen: 16, MaxDepth: 3, MaxElems: 4}

var fuzzCommandSeeds = []string{
	"*1\r\n$-2\r\n",
	"*1\r\n$-1\r\n",
	"*-2\r\n",
	"*9223372036854775807\r\n",
	"*1\r\n$9223372036854775807\r\n",
	"*1\r\n$99999999999999999999\r\n",
	"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
	"*0\r\n*-1\r\n\r\n\n",
	`set "a\x41\n" 'b\'c' ""` + "\r\n",
	"a\"b c\" d\n",
	"\"unbalanced\n",
	"*1\r\n$3\r\nabcXY",
	"*2\r\n$1\r\na\r\n:1\r\n",
}

func FuzzCommandParser(f *testing.F) {
	for _, s := range fuzzCommandSeeds {
		f.Add([]byte(s), uint8(0))
	}
	for _, c := range commandCorpus {
		f.Add([]byte(c.in), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		for _, lim := range []Limits{{}, smallLimits} {
			p := CommandParser{Limits: lim}
			want, wantErr := commandEvents(&p, data, nil)
			q := CommandParser{Limits: lim}
			got, err := commandEvents(&q, data, chunks(len(data), int(split)%17+1))
			if strings.Join(got, "\n") != strings.Join(want, "\n") || errText(err) != errText(wantErr) {
				t.Fatalf("limits %+v, pieces of %d: got %q, %v\nwant %q, %v", lim, int(split)%17+1, got, err, want, wantErr)
			}
		}
		// Every command re-encodes to bytes that parse to it again.
		var p, q CommandParser
		for buf := data; len(buf) > 0; {
			cmd, n, err := p.Parse(buf)
			if n == 0 || err != nil {
				break
			}
			buf = buf[n:]
			if len(cmd.Args) == 0 {
				continue
			}
			enc := Command{Args: cmd.Args}.AppendTo(nil)
			again, m, err := q.Parse(enc)
			if m != len(enc) || err != nil || argsString(again.Args) != argsString(cmd.Args) {
				t.Fatalf("%s re-encoded as %q parses to %s, %d, %v", argsString(cmd.Args), enc, argsString(again.Args), m, err)
			}
		}
	})
}

var fuzzReplySeeds = []string{
	"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$-1\r\n", "$-2\r\n", "*-1\r\n", "*-2\r\n",
	"$9223372036854775807\r\n", "*9223372036854775807\r\n", "%4611686018427387904\r\n",
	"_\r\n#t\r\n#f\r\n,1.5\r\n(12\r\n!1\r\nx\r\n=5\r\ntxt:x\r\n",
	"%1\r\n+k\r\n+v\r\n~1\r\n:1\r\n>1\r\n:1\r\n",
	"|1\r\n+k\r\n+v\r\n:1\r\n",
	"*2\r\n|1\r\n+k\r\n|0\r\n+v\r\n:1\r\n:2\r\n",
	"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
	"+a\nb\r\n",
	"$3\r\nabcd\r\n",
	"*1\r\n$-2\r\n",
}

func FuzzReplyParser(f *testing.F) {
	for _, s := range fuzzReplySeeds {
		f.Add([]byte(s), uint8(0))
	}
	for _, c := range replyCorpus {
		f.Add([]byte(c.in), uint8(5))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		for _, lim := range []Limits{{}, smallLimits} {
			p := ReplyParser{Limits: lim}
			want, wantErr := replyEvents(&p, data, nil)
			q := ReplyParser{Limits: lim}
			got, err := replyEvents(&q, data, chunks(len(data), int(split)%17+1))
			if strings.Join(got, "\n") != strings.Join(want, "\n") || errText(err) != errText(wantErr) {
				t.Fatalf("limits %+v, pieces of %d: got %q, %v\nwant %q, %v", lim, int(split)%17+1, got, err, want, wantErr)
			}
			// ParseValue accepts exactly what the reply parser delimits.
			p.Reset()
			for buf := data; ; {
				n, err := p.Next(buf)
				_, m, verr := ParseValue(buf, lim)
				if m != n || errText(verr) != errText(err) {
					t.Fatalf("Next = %d, %v but ParseValue = %d, %v", n, err, m, verr)
				}
				if n == 0 {
					break
				}
				buf = buf[n:]
			}
		}
	})
}

func FuzzParseValue(f *testing.F) {
	for _, s := range fuzzReplySeeds {
		f.Add([]byte(s))
	}
	for _, c := range replyCorpus {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := ParseValue(data, Limits{})
		if n == 0 {
			return
		}
		if err != nil || n > len(data) {
			t.Fatalf("ParseValue = %d, %v", n, err)
		}
		// encode(decode(x)) decodes to the same value.
		enc := v.AppendTo(nil)
		again, m, err := ParseValue(enc, Limits{})
		if m != len(enc) || err != nil || !equalValue(again, v) {
			t.Fatalf("%v re-encoded as %q parses to %v, %d, %v", v, enc, again, m, err)
		}
		c := v.Clone()
		if !equalValue(c, v) || !bytes.Equal(c.AppendTo(nil), enc) {
			t.Fatalf("Clone of %v is %v", v, c)
		}
		d, err := Raw(data[:n]).Decode()
		if err != nil || !equalValue(d, v) {
			t.Fatalf("Decode = %v, %v; want %v", d, err, v)
		}
	})
}
