// Command bench measures redchain against Redis itself and against twemproxy, in one run
// on one machine, and prints one table.
//
// It starts a redis-server, a twemproxy (nutcracker) and redchain's examples/basic, each on
// a free loopback port, both proxies in front of that same Redis, and runs redis-benchmark
// against the three: SET and GET without and with a pipeline of 16, MGET of 10 keys, and
// SET and GET of a 16 KiB value, 50 clients each. The three targets run one after the other
// for each test, and their order rotates from round to round, so that all three see the
// same conditions on a small, shared, noisy machine; the table shows the median of the
// rounds. Then it opens 10,000 idle connections (one PING each) to a fresh redchain and a
// fresh twemproxy and reports their resident memory before and with them.
//
//	make bench              # installs redis-tools and nutcracker when missing, writes bench/RESULTS.md
//	go run ./bench -quick   # a smoke run of a few seconds
//	go run ./bench -h       # the flags
//
// Everything it starts is stopped when it ends, on a failure or a Ctrl-C too. It runs on
// Linux (it reads /proc); see bench/README.md for how to read the numbers.
package main
