package main

import (
	"bufio"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		out  string
		want result
		err  string
	}{
		{
			name: "default test",
			out: `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","165289.25","0.174","0.048","0.167","0.271","0.319","0.503"
`,
			want: result{rps: 165289.25, p50: 0.167, p99: 0.319},
		},
		{
			name: "custom command with commas, progress before it",
			out: "MGET: rps=0.0 (overall: nan) avg_msec=nan\r" +
				`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"MGET key:__rand_int__, key:__rand_int__","111111.11","0.363","0.120","0.351","0.487","0.607","1.735"
`,
			want: result{rps: 111111.11, p50: 0.351, p99: 0.607},
		},
		{
			name: "columns found by name",
			out: `"p99_latency_ms","test","p50_latency_ms","rps"
"2.5","GET","1.5","1000"
`,
			want: result{rps: 1000, p50: 1.5, p99: 2.5},
		},
		{name: "empty", out: "", err: "no header"},
		{name: "header only", out: `"test","rps","p50_latency_ms","p99_latency_ms"` + "\n", err: "no result row"},
		{name: "missing column", out: `"test","rps","p50_latency_ms"` + "\n" + `"GET","1","2"` + "\n", err: `no "p99_latency_ms" column`},
		{name: "not a number", out: `"test","rps","p50_latency_ms","p99_latency_ms"` + "\n" + `"GET","fast","2","3"` + "\n", err: "rps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseCSV([]byte(tt.out))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseCSV error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCSV: %v", err)
			}
			if got != tt.want {
				t.Fatalf("parseCSV = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	runs := func(v ...float64) []result {
		var rs []result
		for _, x := range v {
			rs = append(rs, result{rps: x})
		}
		return rs
	}
	if got := median(runs(3, 1, 2), rpsOf); got != 2 {
		t.Errorf("median of 3, 1, 2 = %v, want 2", got)
	}
	if got := median(runs(4, 1, 2, 3), rpsOf); got != 2.5 {
		t.Errorf("median of 4, 1, 2, 3 = %v, want 2.5", got)
	}
	if got := median(nil, rpsOf); !math.IsNaN(got) {
		t.Errorf("median of nothing = %v, want NaN", got)
	}
}

func TestResultsTable(t *testing.T) {
	t.Parallel()
	c := caseResult{name: "GET"}
	c.add(0, direct, result{rps: 200000, p50: 0.1, p99: 0.2, cpu: 5})
	c.add(0, twemproxy, result{rps: 150000, p50: 0.2, p99: 0.3, cpu: 10})
	c.add(0, redchain, result{rps: 1500000, p50: 0.3, p99: 0.4, cpu: 8})
	failed := caseResult{name: "SET 16 KiB"}
	failed.add(0, direct, result{rps: 999, p50: 1, p99: 2, cpu: math.NaN()})
	got := resultsTable([]caseResult{c, failed})
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 4 {
		t.Fatalf("table has %d lines, want 4:\n%s", len(lines), got)
	}
	for i, line := range lines {
		if len([]rune(line)) != len([]rune(lines[0])) {
			t.Errorf("line %d is not as wide as the header:\n%s", i, got)
		}
	}
	want := []string{"GET", "200.0k", "150.0k", "1.50M", "7.50", "10.00", "0.100", "0.200", "0.300", "0.200", "0.300", "0.400",
		"5.00", "10.00", "8.00", "0.80"}
	if cells := cells(lines[2]); strings.Join(cells, " ") != strings.Join(want, " ") {
		t.Errorf("row = %q, want %q", cells, want)
	}
	want = []string{"SET 16 KiB", "999", "—", "—", "—", "—", "1.000", "—", "—", "2.000", "—", "—", "—", "—", "—", "—"}
	if cells := cells(lines[3]); strings.Join(cells, " ") != strings.Join(want, " ") {
		t.Errorf("row with missing runs = %q, want %q", cells, want)
	}
}

func TestRatiosArePaired(t *testing.T) {
	t.Parallel()
	var c caseResult
	// The machine slows down from round to round; redchain stays at half of direct.
	for r, speed := range []float64{100, 60, 30} {
		c.add(r, direct, result{rps: 2 * speed})
		c.add(r, redchain, result{rps: speed})
	}
	c.add(3, direct, result{rps: 1000}) // redchain failed in round 4: no ratio
	got := c.ratios(redchain, direct)
	if len(got) != 3 || medianOf(got) != 0.5 {
		t.Fatalf("ratios = %v, want three times 0.5", got)
	}
	if got := c.ratios(redchain, twemproxy); len(got) != 0 {
		t.Fatalf("ratios against a target without runs = %v, want none", got)
	}
}

func cells(line string) []string {
	var out []string
	for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
		out = append(out, strings.TrimSpace(c))
	}
	return out
}

func TestMemoryTable(t *testing.T) {
	t.Parallel()
	got := memoryTable(10000, []memResult{
		{target: "redchain", conns: 10000, before: 10 << 20, with: 30 << 20, peak: 31 << 20},
		{target: "twemproxy", conns: 9990, failed: 10, before: 2 << 20, with: 5 << 20, peak: 5 << 20},
	})
	for _, want := range []string{"| redchain ", "10.0 MiB", "30.0 MiB", "2.0 KiB", "| met ", "only 9990 of 10000"} {
		if !strings.Contains(got, want) {
			t.Errorf("memory table lacks %q:\n%s", want, got)
		}
	}
	over := memoryTable(10000, []memResult{{target: "redchain", conns: 10000, with: 65 << 20}})
	if !strings.Contains(over, "NOT met") {
		t.Errorf("65 MiB passes the 64 MiB goal:\n%s", over)
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	status := "Name:\tredchain-basic\nVmPeak:\t 1262964 kB\nVmHWM:\t   40000 kB\nVmRSS:\t   37580 kB\nThreads:\t7\n"
	rss, hwm, err := parseStatus(bufio.NewScanner(strings.NewReader(status)))
	if err != nil {
		t.Fatal(err)
	}
	if rss != 37580<<10 || hwm != 40000<<10 {
		t.Fatalf("parseStatus = %d, %d; want %d, %d", rss, hwm, 37580<<10, 40000<<10)
	}
	if _, _, err := parseStatus(bufio.NewScanner(strings.NewReader("Name:\tx\n"))); err == nil {
		t.Fatal("parseStatus accepted a status without VmRSS")
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	// pid (comm with spaces) state ppid ... utime=250 stime=50 ...
	stat := "1234 (redis server) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 4 0 100 0 0"
	d, err := parseStat(stat)
	if err != nil || d != 3*time.Second {
		t.Fatalf("parseStat = %v, %v; want 3s (300 ticks)", d, err)
	}
	if _, err := parseStat("1234 (x) S 1"); err == nil {
		t.Fatal("parseStat accepted a short stat")
	}
}

func TestLoopsOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ cpus, def, n int }{{1, 1, 2}, {2, 1, 2}, {4, 3, 1}, {16, 15, 1}} {
		if def, n := loopsOf(tt.cpus); def != tt.def || n != tt.n {
			t.Errorf("loopsOf(%d) = %d, %d; want %d, %d", tt.cpus, def, n, tt.def, tt.n)
		}
	}
}

func TestLoopsTable(t *testing.T) {
	t.Parallel()
	c := caseResult{name: "GET"}
	c.add(0, twemproxy, result{rps: 100000, p50: 0.2, p99: 0.3, cpu: 10})
	c.add(0, redchain, result{rps: 150000, p50: 0.3, p99: 0.4, cpu: 8})
	c.add(0, redchainN, result{rps: 200000, p50: 0.25, p99: 0.5, cpu: 9})
	lines := strings.Split(strings.TrimSpace(loopsTable([]caseResult{c}, 1, 2)), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if h := cells(lines[0]); h[1] != "req/s 1 loop" || h[2] != "req/s 2 loops" || h[3] != "2 loops/1 loop" {
		t.Errorf("headers = %q", h)
	}
	want := []string{"GET", "150.0k", "200.0k", "1.33", "2.00", "0.300", "0.250", "0.400", "0.500", "8.00", "9.00"}
	if got := cells(lines[2]); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("row = %q, want %q", got, want)
	}
}

func TestParseMachineStat(t *testing.T) {
	t.Parallel()
	// user nice system idle iowait irq softirq steal guest guest_nice
	m0, err := parseMachineStat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
	if err != nil || m0 != (machineCPU{total: 1000, idle: 850}) {
		t.Fatalf("parseMachineStat = %+v, %v; want total 1000, idle 850", m0, err)
	}
	m1 := machineCPU{total: 1200, idle: 900}
	if got := m1.idleSince(m0); got != 0.25 {
		t.Errorf("idleSince = %v, want 0.25 (50 of 200 ticks)", got)
	}
	if got := m0.idleSince(m0); !math.IsNaN(got) {
		t.Errorf("idleSince with no time passed = %v, want NaN", got)
	}
	if _, err := parseMachineStat("intr 1 2 3\n"); err == nil {
		t.Error("parseMachineStat accepted a file without the cpu line first")
	}
}

func TestBudgetTable(t *testing.T) {
	t.Parallel()
	c := caseResult{name: "GET"}
	c.add(0, direct, result{rps: 80000, cpu: 11, load: 13, redis: 11, idle: 0.1})
	c.add(0, redchain, result{rps: 50000, cpu: 12, load: 13, redis: 5, idle: 0.2})
	lines := strings.Split(strings.TrimSpace(budgetTable([]caseResult{c}, 2)), "\n")
	if len(lines) != 4 {
		t.Fatalf("table has %d lines, want 4 (no twemproxy row):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range [][]string{
		// direct: load + Redis = 24 µs, so 2 cores serve at most 83.3k requests/s.
		{"GET", "direct", "80.0k", "13.00", "11.00", "—", "24.00", "83.3k", "0.96", "10%"},
		// redchain: 13 + 5 + 12 = 30 µs: at most 66.7k.
		{"GET", "redchain", "50.0k", "13.00", "5.00", "12.00", "30.00", "66.7k", "0.75", "20%"},
	} {
		if got := cells(lines[2+i]); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
}
