package command

import (
	"strings"
	"testing"

	"github.com/redchain/redchain/proxy/resp"
)

func TestMergeInfo(t *testing.T) {
	a := "# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\nprocess_id:10\r\n\r\n" +
		"# Clients\r\nconnected_clients:2\r\nblocked_clients:1\r\nmaxclients:10000\r\n\r\n" +
		"# Memory\r\nused_memory:100\r\nmem_fragmentation_ratio:1.50\r\n\r\n" +
		"# Commandstats\r\ncmdstat_get:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
		"# Cluster\r\ncluster_enabled:1\r\n\r\n" +
		"# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=50\r\n"
	b := "# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\nprocess_id:20\r\n\r\n" +
		"# Clients\r\nconnected_clients:5\r\nblocked_clients:2\r\nmaxclients:10000\r\n\r\n" +
		"# Memory\r\nused_memory:50\r\nmem_fragmentation_ratio:2.50\r\n\r\n" +
		"# Commandstats\r\ncmdstat_get:calls=1,usec=20,usec_per_call=20.00,rejected_calls=1,failed_calls=0\r\n" +
		"cmdstat_set:calls=4,usec=4,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
		"# Cluster\r\ncluster_enabled:1\r\n\r\n" +
		"# Keyspace\r\ndb0:keys=4,expires=0,avg_ttl=70\r\n"
	got := MergeInfo([]resp.Value{resp.BulkString(a), resp.BulkString(b)})
	if got.Type != resp.TypeBulkString {
		t.Fatalf("type %q: %s", got.Type, got)
	}
	want := "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nprocess_id:10\r\n\r\n" +
		"# Clients\r\nconnected_clients:7\r\nblocked_clients:3\r\nmaxclients:10000\r\n\r\n" +
		"# Memory\r\nused_memory:150\r\nmem_fragmentation_ratio:1.50\r\n\r\n" +
		"# Commandstats\r\ncmdstat_get:calls=3,usec=30,usec_per_call=10.00,rejected_calls=1,failed_calls=0\r\n" +
		"cmdstat_set:calls=4,usec=4,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
		"# Cluster\r\ncluster_enabled:0\r\n\r\n" +
		"# Keyspace\r\ndb0:keys=7,expires=1,avg_ttl=70\r\n"
	if string(got.Str) != want {
		t.Fatalf("merged:\n%s\nwant:\n%s", got.Str, want)
	}
	// One shard (a one-node cluster) is presented as standalone too; RESP3 stays verbatim.
	one := MergeInfo([]resp.Value{{Type: resp.TypeVerbatimString, Str: []byte("txt:" + a)}})
	if one.Type != resp.TypeVerbatimString || !strings.Contains(string(one.Str), "redis_mode:standalone") || !strings.HasPrefix(string(one.Str), "txt:# Server") {
		t.Fatalf("one shard: %s", one)
	}
	if e := MergeInfo([]resp.Value{resp.BulkString(a), resp.Error("ERR", "x")}); !e.IsError() {
		t.Fatalf("an error of a shard: got %s", e)
	}
}
