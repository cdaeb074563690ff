package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// result is one redis-benchmark run, read from its --csv output.
type result struct {
	rps      float64 // requests per second
	p50, p99 float64 // latency percentiles, milliseconds
	cpu      float64 // µs of the target's CPU per request (a proxy's own; direct: Redis's); NaN: unknown
	load     float64 // µs of redis-benchmark's CPU per request; NaN: unknown
	redis    float64 // µs of Redis's CPU per request (behind a proxy too); NaN: unknown
	idle     float64 // the share of the machine's CPU time that was idle during the run; NaN: unknown
}

// all is the CPU per request of the three processes together: the load generator,
// Redis and the proxy (none for direct).
func (r result) all(t int) float64 {
	if t == direct {
		return r.load + r.redis
	}
	return r.load + r.redis + r.cpu
}

// parseCSV reads the output of redis-benchmark --csv: a header row naming the columns
// ("test","rps","avg_latency_ms",...,"p50_latency_ms",...,"p99_latency_ms",...) and one row
// per test. It returns the first test row. Columns are found by name, and lines that are
// not CSV rows (progress, warnings) are skipped.
func parseCSV(out []byte) (result, error) {
	var rows []string
	for _, line := range strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.HasPrefix(line, `"`) {
			rows = append(rows, line)
		}
	}
	r := csv.NewReader(strings.NewReader(strings.Join(rows, "\n")))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark --csv: no header in %q", shortOut(out))
	}
	col := map[string]int{}
	for i, name := range header {
		col[name] = i
	}
	for _, name := range []string{"rps", "p50_latency_ms", "p99_latency_ms"} {
		if _, ok := col[name]; !ok {
			return result{}, fmt.Errorf("redis-benchmark --csv: no %q column in header %q", name, header)
		}
	}
	rec, err := r.Read()
	if err == io.EOF {
		return result{}, fmt.Errorf("redis-benchmark --csv: no result row in %q", shortOut(out))
	}
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark --csv: %w", err)
	}
	field := func(name string) (float64, error) {
		i := col[name]
		if i >= len(rec) {
			return 0, fmt.Errorf("redis-benchmark --csv: row %q has no %s", rec, name)
		}
		v, err := strconv.ParseFloat(rec[i], 64)
		if err != nil {
			return 0, fmt.Errorf("redis-benchmark --csv: %s: %w", name, err)
		}
		return v, nil
	}
	var res result
	if res.rps, err = field("rps"); err != nil {
		return result{}, err
	}
	if res.p50, err = field("p50_latency_ms"); err != nil {
		return result{}, err
	}
	if res.p99, err = field("p99_latency_ms"); err != nil {
		return result{}, err
	}
	return res, nil
}

func shortOut(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// median returns the median of the runs' values of one metric, or NaN for no runs.
func median(runs []result, metric func(result) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = metric(r)
	}
	return medianOf(v)
}

// medianOf returns the median of v, or NaN when v is empty. It sorts v.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func rpsOf(r result) float64   { return r.rps }
func p50Of(r result) float64   { return r.p50 }
func p99Of(r result) float64   { return r.p99 }
func cpuOf(r result) float64   { return r.cpu }
func loadOf(r result) float64  { return r.load }
func redisOf(r result) float64 { return r.redis }
func idleOf(r result) float64  { return r.idle }

// Target indexes, in the order of the table's columns. redchainN is redchain with another
// number of event loops than its default (see loopsOf).
const (
	direct = iota
	twemproxy
	redchain
	redchainN
	nTargets
)

var targetNames = [nTargets]string{"direct", "twemproxy", "redchain", "redchain-N"}

// loopsOf returns the event loops of redchain as examples/basic runs by default on a
// machine of cpus CPUs (proxy.DefaultEventLoops: all but one, at least one), and those
// of redchain-N: one where the default is more, else all the CPUs (at least two). So
// that one loop and N loops are both measured.
func loopsOf(cpus int) (def, n int) {
	def = max(1, cpus-1)
	if def > 1 {
		return def, 1
	}
	return def, max(2, cpus)
}

// caseResult holds the runs of one test against every target.
type caseResult struct {
	name   string
	rounds [][nTargets]*result // rounds[r][t]: nil where the run failed or did not happen
}

// add records the result of round r against target t.
func (c *caseResult) add(r, t int, res result) {
	for len(c.rounds) <= r {
		c.rounds = append(c.rounds, [nTargets]*result{})
	}
	c.rounds[r][t] = &res
}

// runs returns the results of target t, round by round.
func (c caseResult) runs(t int) []result {
	var rs []result
	for _, r := range c.rounds {
		if r[t] != nil {
			rs = append(rs, *r[t])
		}
	}
	return rs
}

// ratios returns rps(a)/rps(b) of each round where both ran. Within a round the two runs
// follow each other, so a ratio compares two targets under the same conditions, and the
// median of the rounds' ratios is steadier than the ratio of the medians when the
// machine's load drifts.
func (c caseResult) ratios(a, b int) []float64 {
	var v []float64
	for _, r := range c.rounds {
		if r[a] != nil && r[b] != nil && r[b].rps > 0 {
			v = append(v, r[a].rps/r[b].rps)
		}
	}
	return v
}

// formatRPS writes requests per second compactly: 158.2k, 1.89M.
func formatRPS(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// formatCPU writes µs of CPU per request.
func formatCPU(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

// cpuRatios returns cpu(a)/cpu(b) of each round where both are known.
func (c caseResult) cpuRatios(a, b int) []float64 {
	var v []float64
	for _, r := range c.rounds {
		if r[a] != nil && r[b] != nil && r[b].cpu > 0 && !math.IsNaN(r[a].cpu) {
			v = append(v, r[a].cpu/r[b].cpu)
		}
	}
	return v
}

func formatMS(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.3f", v)
}

func formatRatio(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

// resultsTable is the one table: for each test, the median requests/s of each target, the
// median of the rounds' ratios of redchain to the others, and median p50 and p99 latencies.
func resultsTable(cases []caseResult) string {
	headers := []string{"test",
		"direct req/s", "twemproxy req/s", "redchain req/s",
		"redchain/direct", "redchain/twemproxy",
		"p50 ms direct", "p50 ms twemproxy", "p50 ms redchain",
		"p99 ms direct", "p99 ms twemproxy", "p99 ms redchain",
		"CPU µs/req Redis", "CPU µs/req twemproxy", "CPU µs/req redchain", "CPU redchain/twemproxy",
	}
	var rows [][]string
	for _, c := range cases {
		var rps, p50, p99, cpu [nTargets]float64
		for t := range nTargets {
			rps[t] = median(c.runs(t), rpsOf)
			p50[t] = median(c.runs(t), p50Of)
			p99[t] = median(c.runs(t), p99Of)
			cpu[t] = median(c.runs(t), cpuOf)
		}
		rows = append(rows, []string{c.name,
			formatRPS(rps[direct]), formatRPS(rps[twemproxy]), formatRPS(rps[redchain]),
			formatRatio(medianOf(c.ratios(redchain, direct))), formatRatio(medianOf(c.ratios(redchain, twemproxy))),
			formatMS(p50[direct]), formatMS(p50[twemproxy]), formatMS(p50[redchain]),
			formatMS(p99[direct]), formatMS(p99[twemproxy]), formatMS(p99[redchain]),
			formatCPU(cpu[direct]), formatCPU(cpu[twemproxy]), formatCPU(cpu[redchain]),
			formatRatio(medianOf(c.cpuRatios(redchain, twemproxy))),
		})
	}
	return markdownTable(headers, rows)
}

// loopsTable compares redchain with its default event loops (def) and with n.
func loopsTable(cases []caseResult, def, n int) string {
	a, b := fmt.Sprintf("%d loop%s", def, plural(def)), fmt.Sprintf("%d loop%s", n, plural(n))
	headers := []string{"test",
		"req/s " + a, "req/s " + b, b + "/" + a, b + "/twemproxy",
		"p50 ms " + a, "p50 ms " + b, "p99 ms " + a, "p99 ms " + b,
		"CPU µs/req " + a, "CPU µs/req " + b,
	}
	var rows [][]string
	for _, c := range cases {
		rs, ns := c.runs(redchain), c.runs(redchainN)
		rows = append(rows, []string{c.name,
			formatRPS(median(rs, rpsOf)), formatRPS(median(ns, rpsOf)),
			formatRatio(medianOf(c.ratios(redchainN, redchain))), formatRatio(medianOf(c.ratios(redchainN, twemproxy))),
			formatMS(median(rs, p50Of)), formatMS(median(ns, p50Of)),
			formatMS(median(rs, p99Of)), formatMS(median(ns, p99Of)),
			formatCPU(median(rs, cpuOf)), formatCPU(median(ns, cpuOf)),
		})
	}
	return markdownTable(headers, rows)
}

// budgetTable shows where the machine's CPU goes per request, for each test and target
// (medians of the rounds): the load generator's, Redis's and the proxy's, their sum, and
// the ceiling that sum puts on requests/s where all of them share nproc cores. A target
// whose runs leave the cores idle is further from its ceiling; one that uses them all
// can go faster only by costing less.
func budgetTable(cases []caseResult, nproc int) string {
	headers := []string{"test", "target", "req/s", "CPU µs/req load generator", "CPU µs/req Redis",
		"CPU µs/req proxy", "CPU µs/req all", "ceiling req/s", "req/s / ceiling", "idle"}
	var rows [][]string
	for _, c := range cases {
		for _, t := range []int{direct, twemproxy, redchain} {
			rs := c.runs(t)
			if len(rs) == 0 {
				continue
			}
			all := median(rs, func(r result) float64 { return r.all(t) })
			proxy := "—"
			if t != direct {
				proxy = formatCPU(median(rs, cpuOf))
			}
			ceiling := float64(nproc) * 1e6 / all
			rows = append(rows, []string{c.name, targetNames[t], formatRPS(median(rs, rpsOf)),
				formatCPU(median(rs, loadOf)), formatCPU(median(rs, redisOf)), proxy, formatCPU(all),
				formatRPS(ceiling), formatRatio(median(rs, func(r result) float64 { return r.rps / ceiling })),
				formatPercent(median(rs, idleOf))})
		}
	}
	return markdownTable(headers, rows, 1)
}

func formatPercent(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// markdownTable lays out a markdown table with padded columns, so that it reads well in a
// terminal too. The first column and the columns listed in text are left-aligned, the
// others (numbers) right-aligned.
func markdownTable(headers []string, rows [][]string, text ...int) string {
	left := map[int]bool{0: true}
	for _, i := range text {
		left[i] = true
	}
	width := make([]int, len(headers))
	for i, h := range headers {
		width[i] = runeLen(h)
	}
	for _, r := range rows {
		for i, cell := range r {
			width[i] = max(width[i], runeLen(cell))
		}
	}
	var b bytes.Buffer
	line := func(cells []string) {
		b.WriteString("|")
		for i, cell := range cells {
			pad := strings.Repeat(" ", width[i]-runeLen(cell))
			if left[i] {
				b.WriteString(" " + cell + pad + " |")
			} else {
				b.WriteString(" " + pad + cell + " |")
			}
		}
		b.WriteString("\n")
	}
	line(headers)
	b.WriteString("|")
	for i := range headers {
		if left[i] {
			b.WriteString(" " + strings.Repeat("-", width[i]) + " |")
		} else {
			b.WriteString(" " + strings.Repeat("-", width[i]-1) + ": |")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

func runeLen(s string) int { return len([]rune(s)) }

// memResult is the resident memory of one proxy process before and with n idle
// connections.
type memResult struct {
	target       string
	conns        int   // connections that answered +PONG
	failed       int   // connections that could not be opened or did not answer
	before, with int64 // VmRSS, bytes
	peak         int64 // VmHWM once the connections are open, bytes
	err          string
}

// The project's goal: redchain holds 10,000 idle connections in at most 64 MiB.
const (
	goalConns   = 10000
	memoryLimit = 64 << 20
)

func formatMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// memoryTable reports the memory measurements, one line each.
func memoryTable(n int, mems []memResult) string {
	headers := []string{fmt.Sprintf("%d idle connections", n), "RSS before", "RSS with them",
		"per connection", "peak RSS", "goal (redchain ≤ 64 MiB)"}
	var rows [][]string
	for _, m := range mems {
		if m.err != "" {
			rows = append(rows, []string{m.target, "—", "—", "—", "—", "failed: " + m.err})
			continue
		}
		per := "—"
		if m.conns > 0 {
			per = fmt.Sprintf("%.1f KiB", float64(m.with-m.before)/float64(m.conns)/1024)
		}
		goal := ""
		switch {
		case m.target != targetNames[redchain]:
		case n < goalConns:
			goal = fmt.Sprintf("n/a: the goal is for %d", goalConns)
		case m.with > memoryLimit:
			goal = "NOT met"
		default:
			goal = "met"
		}
		if m.failed > 0 {
			goal = strings.TrimSpace(fmt.Sprintf("%s (only %d of %d connections answered)", goal, m.conns, m.conns+m.failed))
		}
		rows = append(rows, []string{m.target, formatMiB(m.before), formatMiB(m.with), per, formatMiB(m.peak), goal})
	}
	return markdownTable(headers, rows, len(headers)-1)
}

// ratiosTable lists the ratios of every round, to show how much they move.
func ratiosTable(cases []caseResult) string {
	list := func(v []float64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = formatRatio(x)
		}
		return strings.Join(s, " ")
	}
	var rows [][]string
	for _, c := range cases {
		rows = append(rows, []string{c.name, list(c.ratios(redchain, direct)), list(c.ratios(redchain, twemproxy)),
			list(c.ratios(redchainN, twemproxy))})
	}
	return markdownTable([]string{"test", "redchain/direct, by round", "redchain/twemproxy, by round",
		"redchain-N/twemproxy, by round"}, rows, 1, 2, 3)
}
