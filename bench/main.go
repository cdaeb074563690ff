package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is what the flags set.
type config struct {
	out          string
	quick        bool
	scale        float64
	rounds       int
	conns        int
	clients      int
	keyspace     int
	redchainArgs []string
	twemConns    int
	tests        []string // names of the tests to run; all when empty
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [flags]\n\n"+
			"Runs redis-benchmark against Redis, twemproxy and redchain (examples/basic) in front\n"+
			"of the same Redis, then measures redchain's memory with idle connections.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.out, "out", "", "also write the results, with the setup and the exact commands, to this markdown `file`")
	fs.BoolVar(&cfg.quick, "quick", false, "short runs for a smoke test: -n 0.1 -rounds 1 -conns 1000 unless given")
	fs.Float64Var(&cfg.scale, "n", 1, "scale the number of requests of every test by this `factor`")
	fs.IntVar(&cfg.rounds, "rounds", 5, "runs of each test against each target; the table shows medians")
	fs.IntVar(&cfg.conns, "conns", 10000, "idle connections for the memory measurement (0: skip it)")
	fs.IntVar(&cfg.clients, "c", 50, "redis-benchmark clients (-c)")
	fs.IntVar(&cfg.keyspace, "r", 100000, "keyspace of the small-value tests (redis-benchmark -r)")
	fs.IntVar(&cfg.twemConns, "twemproxy-server-connections", defaultTwemConns, "server_connections of the twemproxy pool")
	extra := fs.String("redchain-args", "", "extra arguments for examples/basic, split on spaces")
	tests := fs.String("tests", "", "run only these tests: their names, separated by `;` (e.g. \"GET;GET, pipeline 16\")")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.quick {
		if !set["n"] {
			cfg.scale = 0.1
		}
		if !set["rounds"] {
			cfg.rounds = 1
		}
		if !set["conns"] {
			cfg.conns = 1000
		}
	}
	cfg.redchainArgs = strings.Fields(*extra)
	for _, t := range strings.Split(*tests, ";") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.tests = append(cfg.tests, t)
		}
	}
	for _, t := range cfg.tests {
		if !slices.ContainsFunc(testCases(config{}), func(c testCase) bool { return c.name == t }) {
			return cfg, fmt.Errorf("-tests: no test is named %q", t)
		}
	}
	switch {
	case cfg.scale <= 0:
		return cfg, errors.New("-n must be positive")
	case cfg.rounds < 1:
		return cfg, errors.New("-rounds must be at least 1")
	case cfg.conns < 0:
		return cfg, errors.New("-conns must not be negative")
	case cfg.clients < 1:
		return cfg, errors.New("-c must be at least 1")
	case cfg.keyspace < 10:
		return cfg, errors.New("-r must be at least 10")
	case cfg.twemConns < 1:
		return cfg, errors.New("-twemproxy-server-connections must be at least 1")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once; the children die with us (Pdeathsig)
	}()
	err = run(ctx, cfg)
	interrupted := ctx.Err() != nil // before stop, which cancels ctx
	stop()
	if interrupted {
		fmt.Fprintln(os.Stderr, "bench: interrupted; what it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var start = time.Now()

// logf reports progress on stderr; the results go to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %5.1fs: %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

// testCase is one redis-benchmark invocation, run against every target.
type testCase struct {
	name     string
	pipeline int
	requests int      // at -n 1
	keyspace int      // -r
	args     []string // the test: -t NAME, or a command
	show     string   // args as shown in the results, when they are too long to print
}

const (
	bigSize   = 16 << 10 // value size of the 16 KiB tests
	bigKeys   = 1000     // keyspace of the 16 KiB tests: 16 MiB of values
	bigPrefix = "big:"   // their keys, apart from the small ones so GET sees one size only
)

// testCases returns the tests, in order: those cfg.tests names, or all.
func testCases(cfg config) []testCase {
	mget := []string{"MGET"}
	for range 10 {
		mget = append(mget, "key:__rand_int__") // each one a different random key
	}
	bigValue := strings.Repeat("x", bigSize)
	all := []testCase{
		{name: "SET", pipeline: 1, requests: 250_000, keyspace: cfg.keyspace, args: []string{"-t", "set"}},
		{name: "GET", pipeline: 1, requests: 250_000, keyspace: cfg.keyspace, args: []string{"-t", "get"}},
		{name: "SET, pipeline 16", pipeline: 16, requests: 2_000_000, keyspace: cfg.keyspace, args: []string{"-t", "set"}},
		{name: "GET, pipeline 16", pipeline: 16, requests: 2_000_000, keyspace: cfg.keyspace, args: []string{"-t", "get"}},
		{name: "MGET 10 keys", pipeline: 1, requests: 150_000, keyspace: cfg.keyspace, args: mget},
		{name: "SET 16 KiB", pipeline: 1, requests: 100_000, keyspace: bigKeys,
			args: []string{"SET", bigPrefix + "__rand_int__", bigValue},
			show: fmt.Sprintf("SET %s__rand_int__ <%d bytes>", bigPrefix, bigSize)},
		{name: "GET 16 KiB", pipeline: 1, requests: 100_000, keyspace: bigKeys,
			args: []string{"GET", bigPrefix + "__rand_int__"}},
	}
	if len(cfg.tests) == 0 {
		return all
	}
	return slices.DeleteFunc(all, func(c testCase) bool { return !slices.Contains(cfg.tests, c.name) })
}

// n is the -n of a test case: its requests, scaled, and at least 10 per client.
func (c testCase) n(cfg config) int {
	return max(int(float64(c.requests)*cfg.scale), 10*cfg.clients)
}

// benchArgs returns redis-benchmark's arguments for one run against addr.
func (c testCase) benchArgs(cfg config, addr string) []string {
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(cfg.clients), "-n", strconv.Itoa(c.n(cfg)),
		"-P", strconv.Itoa(c.pipeline), "-r", strconv.Itoa(c.keyspace), "--csv"}
	return append(args, c.args...)
}

// command shows the redis-benchmark command line of a case, with the port left out.
func (c testCase) command(cfg config) string {
	args := c.benchArgs(cfg, "127.0.0.1:0")
	args[3] = "<port>"
	if c.show != "" {
		args = append(args[:len(args)-len(c.args)], c.show)
	}
	return "redis-benchmark " + strings.Join(args, " ")
}

// runTimeout bounds one redis-benchmark run, so that a proxy that hangs fails the run
// instead of the whole bench.
const runTimeout = 2 * time.Minute

// benchmark runs redis-benchmark once and parses its result, with the CPU time
// redis-benchmark itself used in r.load (not yet per request). redis-benchmark exits
// with an error on the first error reply, so a result is a run without errors.
func benchmark(ctx context.Context, args []string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("redis-benchmark"), args...)
	cmd.SysProcAttr = procAttr()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return result{}, fmt.Errorf("redis-benchmark: %w", ctx.Err())
	}
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark: %v: %s", err, shortOut(stderr.Bytes()))
	}
	r, err := parseCSV(stdout.Bytes())
	r.load = float64((cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Microseconds())
	return r, err
}

// idle measures p with n idle connections, then stops it.
func idle(ctx context.Context, p *proc, target, n int) memResult {
	defer p.stop()
	logf("opening %d idle connections to a fresh %s", n, targetNames[target])
	m := measureIdle(ctx, p, n)
	m.target = targetNames[target]
	if m.err == "" {
		logf("%s: RSS %s before, %s with %d connections", m.target, formatMiB(m.before), formatMiB(m.with), m.conns)
	}
	return m
}

func run(ctx context.Context, cfg config) error {
	e := env{cfg: cfg, date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), nproc: runtime.NumCPU()}
	if err := findTools(); err != nil {
		return err
	}
	var err error
	if e.nofileSoft, e.nofileHard, err = raiseNoFile(); err != nil {
		logf("could not raise RLIMIT_NOFILE: %v", err)
	}
	if cfg.conns > 0 && e.nofileSoft > 0 && uint64(cfg.conns)+200 > e.nofileSoft {
		n := int(e.nofileSoft) - 200
		logf("RLIMIT_NOFILE is %d: measuring memory with %d connections instead of %d", e.nofileSoft, n, cfg.conns)
		cfg.conns = max(n, 0)
	}
	e.memConns = cfg.conns
	e.describe()

	dir, err := os.MkdirTemp("", "redchain-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var ps procs
	defer ps.stopAll()

	logf("building examples/basic")
	basic := filepath.Join(dir, "redchain-basic")
	build := exec.CommandContext(ctx, bin("go"), "build", "-o", basic, "github.com/redchain/redchain/examples/basic")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build examples/basic: %v\n%s", err, out)
	}

	cases := testCases(cfg)
	e.cases = cases
	redis, err := startRedis(ctx, &ps, dir, "redis")
	if err != nil {
		return err
	}
	logf("redis-server on %s; preloading %d keys and %d keys of %d bytes", redis.addr, cfg.keyspace, bigKeys, bigSize)
	if err := preload(ctx, redis.addr, cfg.keyspace, bigPrefix, bigKeys, bigSize); err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	twem, err := startTwemproxy(ctx, &ps, dir, "twemproxy", redis.addr, cfg.twemConns)
	if err != nil {
		return err
	}
	rc, err := startRedchain(ctx, &ps, dir, "redchain", basic, redis.addr, cfg.redchainArgs)
	if err != nil {
		return err
	}
	e.loopsDefault, e.loopsN = loopsOf(runtime.NumCPU())
	nArgs := append(slices.Clone(cfg.redchainArgs), "-event-loops", strconv.Itoa(e.loopsN))
	rcN, err := startRedchain(ctx, &ps, dir, "redchain-N", basic, redis.addr, nArgs)
	if err != nil {
		return err
	}
	targets := [nTargets]*proc{redis, twem, rc, rcN}
	for _, p := range targets {
		if err := check(ctx, p.addr, bigPrefix+"000000000000", bigSize); err != nil {
			return fmt.Errorf("%s on %s does not serve the benchmark's commands correctly: %w", p.name, p.addr, err)
		}
	}
	logf("twemproxy on %s, redchain on %s (%d event loops) and %s (%d); all answer SET, GET and MGET",
		twem.addr, rc.addr, e.loopsDefault, rcN.addr, e.loopsN)

	results := make([]caseResult, len(cases))
	var dead [nTargets]string
	total := cfg.rounds * len(cases) * int(nTargets)
	done := 0
	for round := range cfg.rounds {
		for i, c := range cases {
			results[i].name = c.name
			for k := range nTargets {
				t := (k + round) % nTargets // rotate the order from round to round
				done++
				if dead[t] != "" {
					continue
				}
				if targets[t].exited() {
					dead[t] = targets[t].exitReport(fmt.Sprintf("before %s, round %d", c.name, round+1))
					e.failures = append(e.failures, dead[t])
					logf("[%d/%d] %s", done, total, dead[t])
					continue
				}
				began := time.Now()
				cpu0, cpuErr := readCPU(targets[t].pid())
				redis0, redisErr := readCPU(redis.pid())
				stat0, statErr := readMachineCPU()
				r, err := benchmark(ctx, c.benchArgs(cfg, targets[t].addr))
				n := float64(c.n(cfg))
				r.cpu, r.redis, r.idle = math.NaN(), math.NaN(), math.NaN()
				r.load /= n
				if cpu1, err := readCPU(targets[t].pid()); cpuErr == nil && err == nil {
					r.cpu = float64((cpu1 - cpu0).Microseconds()) / n
				}
				if redis1, err := readCPU(redis.pid()); redisErr == nil && err == nil {
					r.redis = float64((redis1 - redis0).Microseconds()) / n
				}
				if stat1, err := readMachineCPU(); statErr == nil && err == nil {
					r.idle = stat1.idleSince(stat0)
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					dead[t] = fmt.Sprintf("%s, round %d, against %s: %v", c.name, round+1, targetNames[t], err)
					e.failures = append(e.failures, dead[t]+" (no further runs against it)")
					logf("[%d/%d] %s", done, total, dead[t])
					continue
				}
				results[i].add(round, t, r)
				e.runs++
				e.rawRuns = append(e.rawRuns, []string{strconv.Itoa(round + 1), c.name, targetNames[t],
					formatRPS(r.rps), formatMS(r.p50), formatMS(r.p99), formatCPU(r.cpu), formatCPU(r.load), formatCPU(r.redis),
					formatPercent(r.idle), fmt.Sprintf("%.1f", time.Since(began).Seconds())})
				logf("[%d/%d] %-16s %-9s %8s req/s  p50 %s ms  p99 %s ms  (%.1fs)", done, total, c.name,
					targetNames[t], formatRPS(r.rps), formatMS(r.p50), formatMS(r.p99), time.Since(began).Seconds())
			}
		}
	}

	for _, p := range []*proc{twem, rc, rcN} {
		if rss, hwm, err := readRSS(p.pid()); err == nil {
			e.throughputRSS = append(e.throughputRSS, fmt.Sprintf("%s %s (peak %s)", p.name, formatMiB(rss), formatMiB(hwm)))
		}
	}

	var mems []memResult
	if cfg.conns > 0 {
		// Fresh processes, so that "before" is a proxy that has served nothing yet.
		twem.stop()
		rc.stop()
		rcN.stop()
		p, err := startRedchain(ctx, &ps, dir, "redchain-idle", basic, redis.addr, cfg.redchainArgs)
		if err != nil {
			return err
		}
		mems = append(mems, idle(ctx, p, redchain, cfg.conns))
		if p, err = startTwemproxy(ctx, &ps, dir, "twemproxy-idle", redis.addr, cfg.twemConns); err != nil {
			return err
		}
		mems = append(mems, idle(ctx, p, twemproxy, cfg.conns))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, m := range mems {
			switch {
			case m.err != "":
				e.failures = append(e.failures, fmt.Sprintf("memory of %s: %s", m.target, m.err))
			case m.failed > 0:
				e.failures = append(e.failures, fmt.Sprintf("memory of %s: %d of %d connections failed", m.target, m.failed, cfg.conns))
			}
		}
	}

	e.elapsed = time.Since(start)
	doc := e.render(results, mems, false)
	fmt.Print(doc)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(e.render(results, mems, true)), 0o644); err != nil {
			return err
		}
		logf("wrote %s", cfg.out)
	}
	if len(e.failures) > 0 {
		return fmt.Errorf("%d failure(s); see the results", len(e.failures))
	}
	return nil
}
