package router_test

import (
	"strings"
	"testing"

	"github.com/redchain/redchain/backend/redis"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/router"
)

// learnFrom teaches the command model the commands of the server at addr (router.Learn).
func learnFrom(t *testing.T, addr string) {
	t.Helper()
	b, err := redis.New(redis.Config{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := router.Learn(testCtx(t), b); err != nil {
		t.Fatal(err)
	}
}

// TestSameAsRedis sends sequences of commands to a real redis-server and through the
// proxy in front of another, and compares the replies: arity errors, unknown commands
// and subcommands, transactions with commands the proxy answers or refuses. Where the
// proxy must answer otherwise (its own client ID), the case says what it answers.
func TestSameAsRedis(t *testing.T) {
	st := newStack(t, nil)
	// The server's commands, so that one the model knows and the server does not (a
	// newer Redis's) gets the server's unknown-command error.
	learnFrom(t, st.redis.Addr())
	for _, tc := range []struct {
		name string
		cmds [][]string
		// proxy, when not nil, is what the proxy answers instead of Redis's reply, by
		// command index; "*" keeps Redis's.
		proxy []string
	}{
		{"blocking commands with a wrong number of arguments", [][]string{
			{"BZMPOP"}, {"BZMPOP", "0"}, {"BLMPOP", "0", "1"}, {"WAIT", "1"}, {"BLPOP", "k"},
			{"WAITAOF", "0", "0"}, {"XREAD", "BLOCK"}, {"BRPOPLPUSH", "a", "b"},
		}, nil},
		{"blocking commands with bad arguments", [][]string{
			{"BLPOP", "k", "x"}, {"BLPOP", "k", "-1"}, {"BZMPOP", "0", "x", "k", "MIN"},
			{"XREAD", "BLOCK", "x", "STREAMS", "s", "$"}, {"WAIT", "x", "0"},
		}, nil},
		{"unknown commands and subcommands", [][]string{
			{"NOSUCH", "a", "b"}, {"CLIENT", "NOSUCH"}, {"CLIENT"}, {"OBJECT", "nope", "k"},
			{"GET"}, {"SET", "k"}, {"CONFIG"},
		}, nil},
		{"SHUTDOWN in a transaction", [][]string{
			{"MULTI"}, {"SET", "tx:r", "1"}, {"SHUTDOWN"}, {"EXEC"}, {"GET", "tx:r"},
		}, nil},
		{"a command the proxy refuses fails the transaction", [][]string{
			{"MULTI"}, {"SET", "tx:h", "1"}, {"HELLO", "3"}, {"EXEC"},
		}, []string{"*", "*", "-ERR redchain: HELLO inside MULTI is not supported\r\n",
			"-EXECABORT Transaction discarded because of previous errors.\r\n"}},
		{"a wrong number of arguments fails the transaction", [][]string{
			{"MULTI"}, {"SET", "tx:a", "1"}, {"GET"}, {"EXEC"}, {"GET", "tx:a"},
		}, nil},
		{"an unknown command fails the transaction", [][]string{
			{"MULTI"}, {"SET", "tx:u", "1"}, {"NOSUCH"}, {"EXEC"}, {"GET", "tx:u"},
		}, nil},
		{"the proxy's own commands in a transaction", [][]string{
			{"MULTI"}, {"SET", "tx:l", "1"}, {"CLIENT", "SETNAME", "n1"}, {"ECHO", "e"},
			{"CLIENT", "GETNAME"}, {"INCR", "tx:l"}, {"EXEC"}, {"CLIENT", "GETNAME"},
		}, nil},
		{"REPLCONF", [][]string{
			{"REPLCONF", "listening-port", "1"}, {"REPLCONF", "ACK", "0"}, {"REPLCONF", "nope", "1"},
			{"REPLCONF", "x"}, {"PING"},
		}, nil},
		{"CLIENT KILL of a user the server lacks", [][]string{
			{"CLIENT", "KILL", "USER", "nosuchuser"}, {"CLIENT", "KILL", "USER", "nosuchuser", "SKIPME", "maybe"},
		}, nil},
		{"HELLO", [][]string{
			{"HELLO", "4"}, {"HELLO", "x"}, {"HELLO", "2", "SETNAME", "a b"}, {"HELLO", "2", "NOPE"},
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			direct := proxytest.Dial(t, st.redis.Addr())
			prox := proxytest.Dial(t, st.proxy.Addr())
			for i, cmd := range tc.cmds {
				// REPLCONF ACK has no reply: the next command's reply is read instead.
				noReply := strings.EqualFold(cmd[0], "replconf") && len(cmd) > 1 && strings.EqualFold(cmd[1], "ack")
				if noReply {
					direct.Send(cmd)
					prox.Send(cmd)
					continue
				}
				want := reply(direct.Do(cmd...))
				if tc.proxy != nil && tc.proxy[i] != "*" {
					want = tc.proxy[i]
				}
				if got := reply(prox.Do(cmd...)); got != want {
					t.Errorf("%q: proxy %q, redis %q", cmd, got, want)
				}
			}
		})
	}
	t.Run("HELLO describes the server", func(t *testing.T) {
		// Every field but id (the proxy's number for its client) as the server says.
		direct := proxytest.Dial(t, st.redis.Addr()).Do("HELLO", "3")
		prox := proxytest.Dial(t, st.proxy.Addr()).Do("HELLO", "3")
		if len(direct.Elems) != len(prox.Elems) {
			t.Fatalf("proxy %q, redis %q", reply(prox), reply(direct))
		}
		for i := 0; i+1 < len(direct.Elems); i += 2 {
			if k := string(direct.Elems[i].Str); k != "id" && reply(direct.Elems[i+1]) != reply(prox.Elems[i+1]) {
				t.Errorf("%s: proxy %q, redis %q", k, reply(prox.Elems[i+1]), reply(direct.Elems[i+1]))
			}
		}
	})
}
