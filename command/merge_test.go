package command_test

import (
	"fmt"
	"testing"

	"github.com/redchain/redchain/command"
	"github.com/redchain/redchain/proxy/resp"
)

// TestMergeReplies: the response policies, as one Redis would answer for all the shards.
func TestMergeReplies(t *testing.T) {
	notBusy := resp.Error("NOTBUSY", "No scripts in execution right now.")
	busy := resp.Error("BUSY", "Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
	for _, tc := range []struct {
		name  string
		r     command.Response
		parts []resp.Value
		want  string
	}{
		{"one succeeded", command.OneSucceeded, []resp.Value{notBusy, resp.OK, notBusy}, "+OK\r\n"},
		{"none succeeded: the busy server's error", command.OneSucceeded, []resp.Value{notBusy, busy, notBusy}, "-" + string(busy.Str) + "\r\n"},
		{"none had anything to do", command.OneSucceeded, []resp.Value{notBusy, notBusy}, "-" + string(notBusy.Str) + "\r\n"},
		{"all succeeded", command.AllSucceeded, []resp.Value{resp.OK, resp.OK}, "+OK\r\n"},
		{"all but one succeeded", command.AllSucceeded, []resp.Value{resp.OK, busy}, "-" + string(busy.Str) + "\r\n"},
		{"sum", command.AggSum, []resp.Value{resp.Integer(2), resp.Integer(3)}, ":5\r\n"},
	} {
		if got := string(command.MergeReplies(tc.r, tc.parts).AppendTo(nil)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestMergeSlowlog: the shards' entries, newest first, up to the count asked.
func TestMergeSlowlog(t *testing.T) {
	entry := func(id, at int64, name string) resp.Value {
		return resp.Array(resp.Integer(id), resp.Integer(at), resp.Integer(5), resp.Array(resp.BulkString(name)))
	}
	parts := []resp.Value{
		resp.Array(entry(2, 300, "a2"), entry(1, 100, "a1")),
		resp.Array(entry(7, 200, "b7")),
		resp.Array(),
	}
	for _, tc := range []struct {
		count int
		want  []string
	}{{10, []string{"a2", "b7", "a1"}}, {2, []string{"a2", "b7"}}, {-1, []string{"a2", "b7", "a1"}}, {0, nil}} {
		v := command.MergeSlowlog(parts, tc.count)
		var got []string
		for _, e := range v.Elems {
			got = append(got, string(e.Elems[3].Elems[0].Str))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("count %d: %v, want %v", tc.count, got, tc.want)
		}
	}
}
