package command_test

import (
	"fmt"
	"strings"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

func ExampleInfo_Keys() {
	args := resp.NewCommand("ZUNIONSTORE", "dest", "2", "a", "b", "WEIGHTS", "1", "2").Args
	c, _ := command.Lookup(args[0])
	for _, i := range c.Keys(args, nil) {
		fmt.Printf("%d:%s\n", i, args[i])
	}
	fmt.Println(c.Name, c.Arity, c.Flags, c.Class)
	// Output:
	// 1:dest
	// 3:a
	// 4:b
	// zunionstore -4 write denyoom movablekeys shared
}

func ExampleLookupArgs() {
	for _, cmd := range [][]string{
		{"GET", "k"},
		{"BLPOP", "q", "0"},
		{"CLIENT", "TRACKING", "on"},
		{"CLIENT", "ID"},
		{"SCRIPT", "KILL"},
		{"FLUSHALL"},
		{"MONITOR"},
		{"SHUTDOWN"},
	} {
		c, _ := command.LookupArgs(resp.NewCommand(cmd...).Args)
		fmt.Println(strings.TrimSpace(fmt.Sprint(c.Name, " ", c.Class, " ", c.Effect)))
	}
	// Output:
	// get shared
	// blpop dedicated block
	// client|tracking dedicated session
	// client|id local
	// script|kill control
	// flushall every-shard
	// monitor stream
	// shutdown refused
}

func ExampleCheck() {
	for _, cmd := range [][]string{{"GET"}, {"CLIENT", "NOPE"}, {"NOPE", "a"}, {"GET", "k"}} {
		c, refusal := command.Check(resp.NewCommand(cmd...).Args)
		if c == nil {
			fmt.Println(strings.TrimSpace(string(refusal.Str)))
			continue
		}
		fmt.Println(c.Name, "ok")
	}
	// Output:
	// ERR wrong number of arguments for 'get' command
	// ERR unknown subcommand 'NOPE'. Try CLIENT HELP.
	// ERR unknown command 'NOPE', with args beginning with: 'a'
	// get ok
}

func ExampleSplit() {
	// Keys live in the group of their first letter, on shard group % 2.
	locate := func(key []byte) (group, shard int) { return int(key[0]), int(key[0]) % 2 }
	var p command.Plan // reused from command to command
	command.Split(resp.NewCommand("MGET", "a1", "b1", "a2"), locate, &p)
	for _, pt := range p.Parts {
		fmt.Println(pt.Cmd, "to shard", pt.Shard, "keys at", pt.Pos)
	}
	fmt.Println(p.Shards, "shards")
	// Output:
	// "MGET" "a1" "a2" to shard 1 keys at [0 2]
	// "MGET" "b1" to shard 0 keys at [1]
	// 2 shards
}
