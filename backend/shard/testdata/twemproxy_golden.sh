#!/bin/sh
# Records which server twemproxy (nutcracker) puts each key on, for the golden values of
# TestGoldenTwemproxy. Not run by go test: run it by hand where nutcracker, redis-server
# and redis-cli are installed, and paste its output into shard_test.go.
#
#   sh testdata/twemproxy_golden.sh
set -eu
dir=$(mktemp -d)
trap 'kill $(cat "$dir"/*.pid) 2>/dev/null; rm -rf "$dir"' EXIT
ports="17001 17002 17003"
for p in $ports; do
	redis-server --port "$p" --save '' --appendonly no --daemonize yes \
		--pidfile "$dir/r$p.pid" --dir "$dir" >/dev/null
done
# Pool a: named servers with weights 1, 2, 1. Pool b: unnamed, weights 1 (host:port-i).
cat >"$dir/nc.yml" <<YML
a:
  listen: 127.0.0.1:17100
  hash: fnv1a_64
  distribution: ketama
  hash_tag: "{}"
  redis: true
  servers:
    - 127.0.0.1:17001:1 alpha
    - 127.0.0.1:17002:2 beta
    - 127.0.0.1:17003:1 gamma
b:
  listen: 127.0.0.1:17101
  hash: fnv1a_64
  distribution: ketama
  redis: true
  servers:
    - 127.0.0.1:17001:1
    - 127.0.0.1:17002:1
    - 127.0.0.1:17003:1
YML
nutcracker -c "$dir/nc.yml" -p "$dir/nc.pid" -o "$dir/nc.log" -d
for i in $(seq 50); do redis-cli -p 17100 ping >/dev/null 2>&1 && break; sleep 0.1; done
for pool in 17100 17101; do
	for p in $ports; do redis-cli -p "$p" flushall >/dev/null; done
	for k in foo bar baz key:1 key:2 key:3 user:1000 user:1001 "{user1}.a" hello world \
		a b c 0 1 2 abcdefghij session:42 caf$(printf '\303\251') x$(printf '\377')y; do
		redis-cli -p "$pool" set "$k" 1 >/dev/null
		for p in $ports; do
			if [ "$(redis-cli -p "$p" exists "$k")" = 1 ]; then echo "$pool $k $p"; fi
		done
	done
done
# Bulk: key:0 .. key:999 through each pool, one digit per key (1, 2, 3: the server).
for pool in 17100 17101; do
	for p in $ports; do redis-cli -p "$p" flushall >/dev/null; done
	for i in $(seq 0 999); do echo "SET key:$i 1"; done | redis-cli -p "$pool" >/dev/null
	out=""
	for i in $(seq 0 999); do
		n=1
		for p in $ports; do
			if [ "$(redis-cli -p "$p" exists "key:$i")" = 1 ]; then out="$out$n"; fi
			n=$((n + 1))
		done
	done
	echo "$pool bulk $out"
done
