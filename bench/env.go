package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// env describes the machine, the software and the run, for the results' header.
type env struct {
	cfg                    config
	date, kernel, cpuModel string
	loadavg                string // of the machine before bench starts anything
	nproc                  int
	goVersion              string
	redisVersion, benchVer string
	twemVersion            string
	nofileSoft, nofileHard uint64
	memConns               int           // connections of the memory measurement
	cases                  []testCase    // the tests, in order
	runs                   int           // successful redis-benchmark runs
	rawRuns                [][]string    // one row per run, for the appendix
	throughputRSS          []string      // RSS of the proxies after the throughput runs
	loopsDefault, loopsN   int           // event loops of redchain and redchain-N (loopsOf)
	failures               []string      // runs or processes that failed
	elapsed                time.Duration // from start to the results
}

// describe fills in the versions and the machine; what it cannot find reads "unknown".
func (e *env) describe() {
	e.kernel = firstLine(readFile("/proc/sys/kernel/osrelease"))
	if f := strings.Fields(readFile("/proc/loadavg")); len(f) >= 3 {
		e.loadavg = strings.Join(f[:3], " ")
	}
	e.cpuModel = "unknown"
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			e.cpuModel = strings.TrimSpace(value)
			break
		}
	}
	e.goVersion = strings.TrimPrefix(firstLine(output(bin("go"), "version")), "go version ")
	e.redisVersion = match(output(bin("redis-server"), "--version"), `v=(\S+)`)
	e.benchVer = match(output(bin("redis-benchmark"), "--version"), `redis-benchmark (\S+)`)
	e.twemVersion = match(output(bin("nutcracker"), "--version"), `nutcracker-(\S+)`)
}

func readFile(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return "unknown"
	}
	return string(b)
}

// output runs a command and returns its stdout and stderr together ("" on failure).
func output(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return "unknown"
	}
	return s
}

func match(s, re string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		return "unknown"
	}
	return m[1]
}

// render writes the results as markdown: the header, the table and the memory lines;
// full adds the setup, the exact commands and every run (for -out).
func (e *env) render(results []caseResult, mems []memResult, full bool) string {
	var b bytes.Buffer
	cfg := e.cfg
	fmt.Fprintf(&b, "# redchain benchmark: direct Redis, twemproxy, redchain\n\n")
	fmt.Fprintf(&b, "- date: %s\n", e.date)
	fmt.Fprintf(&b, "- machine: nproc %d, %s, Linux %s; load average %s before the run\n",
		e.nproc, e.cpuModel, e.kernel, e.loadavg)
	fmt.Fprintf(&b, "- Go: %s; Redis: redis-server %s, redis-benchmark %s\n", e.goVersion, e.redisVersion, e.benchVer)
	extra := ""
	if len(cfg.redchainArgs) > 0 {
		extra = " and `" + strings.Join(cfg.redchainArgs, " ") + "`"
	}
	fmt.Fprintf(&b, "- twemproxy: nutcracker %s, one pool with the Redis as its one server, server_connections %d, "+
		"ketama over fnv1a_64, default 16 KiB mbufs; redchain: examples/basic with its defaults%s\n",
		e.twemVersion, cfg.twemConns, extra)
	fmt.Fprintf(&b, "- load: redis-benchmark, %d clients, %d round(s); in each round every test runs against "+
		"direct, twemproxy, redchain and redchain-N in turn, the order rotating from round to round; "+
		"the table shows the median of the rounds\n", cfg.clients, cfg.rounds)
	switch {
	case cfg.quick:
		fmt.Fprintf(&b, "- -quick: requests scaled by %g, a smoke test, not a measurement\n", cfg.scale)
	case cfg.scale != 1:
		fmt.Fprintf(&b, "- requests scaled by %g (-n)\n", cfg.scale)
	}
	b.WriteString("\n")
	b.WriteString(resultsTable(results))
	b.WriteString("\nRatios are of requests/s: the median of the rounds' ratios (in a round the targets run " +
		"one right after the other); latencies are redis-benchmark's, in milliseconds, " +
		"as seen by the client (the proxy's hop included). CPU is the target process's own " +
		"(user and system, from /proc/<pid>/stat, in 10 ms ticks) during the run, per request: " +
		"a proxy's without Redis's, and Redis's for direct.\n")
	fmt.Fprintf(&b, "\nEvent loops: redchain above runs examples/basic's default, %d on this machine; "+
		"redchain-N, in the same rounds, runs %d (`-event-loops %d`).\n\n", e.loopsDefault, e.loopsN, e.loopsN)
	b.WriteString(loopsTable(results, e.loopsDefault, e.loopsN))
	fmt.Fprintf(&b, "\nWhere the machine's CPU goes, per request: redis-benchmark's own (its user and system "+
		"time), Redis's (behind the proxies too) and the proxy's, the medians of the rounds; \"all\" is their sum. "+
		"The load generator, Redis and the proxy share the machine's %d cores, so no target can serve more "+
		"than %d × 1,000,000 / all requests/s: the ceiling. \"idle\" is the share of the machine's CPU time "+
		"that no process used during the run.\n\n", e.nproc, e.nproc)
	b.WriteString(budgetTable(results, e.nproc))
	if len(mems) > 0 {
		b.WriteString("\n")
		b.WriteString(memoryTable(e.memConns, mems))
		b.WriteString("\nMemory: VmRSS of a fresh process, before and after opening the connections " +
			"(one PING and its +PONG on each); peak is VmHWM.\n")
	}
	if len(e.throughputRSS) > 0 {
		if len(mems) == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "After the throughput runs: %s.\n", strings.Join(e.throughputRSS, ", "))
	}
	if len(e.failures) > 0 {
		b.WriteString("\n## Failures\n\n")
		for _, f := range e.failures {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(f, "\n", "\n  "))
		}
	}
	if !full {
		return b.String()
	}

	b.WriteString("\n## Setup\n\n")
	fmt.Fprintf(&b, "Made by `%s`; every process on a free loopback port of the same machine:\n\n",
		strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " "))
	b.WriteString("- Redis: `redis-server --port <port> --bind 127.0.0.1 --save \"\" --appendonly no`; " +
		fmt.Sprintf("preloaded with `key:<12 digits>` for the %d keys of `-r`, 3-byte values, and `%s<12 digits>` for %d keys of %d bytes\n",
			cfg.keyspace, bigPrefix, bigKeys, bigSize))
	b.WriteString("- twemproxy: `nutcracker -c <conf> -o <log> -s <port> -a 127.0.0.1` (foreground; " +
		"default mbuf size, 16 KiB), with:\n\n```yaml\n")
	b.WriteString(twemproxyConfig("127.0.0.1:<port>", "127.0.0.1:<redis port>", cfg.twemConns))
	b.WriteString("```\n\n")
	if cfg.twemConns == defaultTwemConns {
		fmt.Fprintf(&b, "  server_connections %d: %s\n", cfg.twemConns, twemproxyNote)
	} else {
		fmt.Fprintf(&b, "  server_connections %d: set with -twemproxy-server-connections\n", cfg.twemConns)
	}
	redchainCmd := "examples/basic -upstream 127.0.0.1:<redis port> -log-level warn -listen 127.0.0.1:<port>"
	if len(cfg.redchainArgs) > 0 {
		redchainCmd += " " + strings.Join(cfg.redchainArgs, " ")
	}
	fmt.Fprintf(&b, "- redchain: `go build` of `%s`; redchain-N: the same with `-event-loops %d`\n", redchainCmd, e.loopsN)
	fmt.Fprintf(&b, "- bench: RLIMIT_NOFILE %d (hard %d), raised by bench and inherited by the processes it starts\n",
		e.nofileSoft, e.nofileHard)

	b.WriteString("\nThe tests, in order (`<port>`: the target's):\n\n")
	for _, c := range e.cases {
		fmt.Fprintf(&b, "- %s: `%s`\n", c.name, c.command(cfg))
	}
	fmt.Fprintf(&b, "\n%d runs in %.0f s in all, build and memory measurement included.\n", e.runs, e.elapsed.Seconds())

	b.WriteString("\n## Ratios of requests/s, round by round\n\n")
	b.WriteString(ratiosTable(results))
	b.WriteString("\n## Every run\n\n")
	b.WriteString(markdownTable([]string{"round", "test", "target", "req/s", "p50 ms", "p99 ms", "CPU µs/req",
		"CPU µs/req load generator", "CPU µs/req Redis", "idle", "seconds"}, e.rawRuns, 1, 2))
	return b.String()
}

// defaultTwemConns is the server_connections of the twemproxy pool.
const defaultTwemConns = 1

// twemproxyNote says why the pool has the server_connections it has.
const twemproxyNote = "twemproxy's best where bench was written (2 cores; 1, 2 and 4 tried: " +
	"with 2 or 4, twemproxy was 10 to 30% slower at pipeline 1 and 16, and no faster elsewhere)"
