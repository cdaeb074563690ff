package resp_test

import (
	"fmt"

	"github.com/redchain/redchain/proxy/resp"
)

// A server parses the commands a client pipelined, as they arrive, and consumes each one
// as soon as it is complete.
func ExampleCommandParser_Parse() {
	var p resp.CommandParser
	in := []byte("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nk")
	for {
		cmd, n, err := p.Parse(in)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		if n == 0 {
			fmt.Printf("incomplete: %q\n", in)
			break
		}
		fmt.Println(cmd, "raw:", cmd.Raw != nil)
		in = in[n:]
	}
	// More bytes arrive: the parser resumes where it stopped.
	in = append(in, "ey\r\n"...)
	cmd, n, err := p.Parse(in)
	fmt.Println(cmd, n, err)
	// Output:
	// "SET" "key" "value" raw: true
	// "PING" raw: false
	// incomplete: "*2\r\n$3\r\nGET\r\n$3\r\nk"
	// "GET" "key" 22 <nil>
}

// A reply is built from values and encoded into an output buffer.
func ExampleValue_AppendTo() {
	reply := resp.Array(
		resp.BulkString("hello"),
		resp.Integer(42),
		resp.NullBulk,
		resp.Value{Type: resp.TypeMap, Elems: []resp.Value{resp.SimpleString("ok"), {Type: resp.TypeBoolean, Int: 1}}},
	)
	out := reply.AppendTo(nil)
	out = resp.Error("WRONGTYPE", "Operation against a key holding the wrong kind of value").AppendTo(out)
	fmt.Printf("%q\n", out)
	// Output:
	// "*4\r\n$5\r\nhello\r\n:42\r\n$-1\r\n%1\r\n+ok\r\n#t\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
}

// A proxy delimits a backend's replies without decoding them, and decodes one only when
// it needs to look inside.
func ExampleReplyParser_Next() {
	var p resp.ReplyParser
	in := []byte("+OK\r\n*2\r\n$3\r\nfoo\r\n:7\r\n")
	for {
		n, err := p.Next(in)
		if err != nil || n == 0 {
			break
		}
		v := resp.Raw(in[:n])
		d, _ := v.Decode()
		fmt.Printf("%s frame %q, %d elements\n", v.Type, in[:n], len(d.Elems))
		in = in[n:]
	}
	// Output:
	// simple-string frame "+OK\r\n", 0 elements
	// array frame "*2\r\n$3\r\nfoo\r\n:7\r\n", 2 elements
}

func ExampleParseValue() {
	v, n, err := resp.ParseValue([]byte("%1\r\n$4\r\nname\r\n*2\r\n:1\r\n_\r\n"), resp.Limits{})
	fmt.Println(v.Type, n, err)
	fmt.Printf("%s => %s %s\n", v.Elems[0].Str, v.Elems[1].Elems[0].String(), v.Elems[1].Elems[1].Type)
	// Output:
	// map 25 <nil>
	// name => ":1\r\n" null
}

// Errorf formats an error reply's message as fmt.Sprintf does, and adds the code ERR;
// ErrorFrom makes one from a Go error; Error takes any code. CR and LF become spaces.
func ExampleErrorf() {
	fmt.Printf("%q\n", resp.Errorf("unknown user '%s'", "bob").AppendTo(nil))
	fmt.Printf("%q\n", resp.ErrorFrom(fmt.Errorf("bad\r\ninput")).AppendTo(nil))
	fmt.Printf("%q\n", resp.Error("WRONGTYPE", "Operation against a key holding the wrong kind of value").AppendTo(nil))
	// Output:
	// "-ERR unknown user 'bob'\r\n"
	// "-ERR bad  input\r\n"
	// "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
}
