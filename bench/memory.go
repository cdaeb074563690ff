package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dialers is how many connections are opened at once: enough to be quick, few enough not
// to overflow the proxy's listen backlog (an overflow costs a SYN retry, a second or more).
const dialers = 32

// measureIdle opens n connections to p, sends one PING on each and reads its +PONG (so
// the proxy has fully registered every one of them), then reads p's resident memory. It
// closes the connections before it returns.
func measureIdle(ctx context.Context, p *proc, n int) memResult {
	m := memResult{target: p.name}
	before, _, err := readRSS(p.pid())
	if err != nil {
		m.err = err.Error()
		return m
	}
	m.before = before

	var (
		mu       sync.Mutex
		conns    = make([]net.Conn, 0, n)
		firstErr error
		wg       sync.WaitGroup
	)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	next := make(chan struct{})
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second}
			for range next {
				nc, err := d.DialContext(ctx, "tcp", p.addr)
				if err == nil {
					err = nc.SetDeadline(time.Now().Add(10 * time.Second))
					if err == nil {
						err = pingOn(nc)
					}
					if err == nil {
						err = nc.SetDeadline(time.Time{})
					}
					if err != nil {
						_ = nc.Close()
					}
				}
				mu.Lock()
				if err != nil {
					m.failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					conns = append(conns, nc)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for range n {
		select {
		case next <- struct{}{}:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		m.err = ctx.Err().Error()
		return m
	}
	m.conns = len(conns)
	if p.exited() {
		m.err = p.exitReport(fmt.Sprintf("with %d connections open", m.conns))
		return m
	}
	if m.with, m.peak, err = readRSS(p.pid()); err != nil {
		m.err = err.Error()
	}
	if firstErr != nil {
		logf("%s: %d of %d connections failed, the first with: %v", p.name, m.failed, n, firstErr)
	}
	return m
}

// readRSS returns VmRSS and VmHWM (the peak) of a process, in bytes, from
// /proc/<pid>/status.
func readRSS(pid int) (rss, hwm int64, err error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseStatus(bufio.NewScanner(f))
}

func parseStatus(sc *bufio.Scanner) (rss, hwm int64, err error) {
	found := 0
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %w", name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("/proc status: no VmRSS or VmHWM")
	}
	return rss, hwm, nil
}

// clockTicks is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, 100 on Linux.
const clockTicks = 100

// readCPU returns the CPU time a process has used so far, user and system, from
// /proc/<pid>/stat.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// machineCPU is the machine's CPU time so far, from the first line of /proc/stat, in
// ticks: all of it, and the idle part (idle and iowait).
type machineCPU struct{ total, idle int64 }

// readMachineCPU reads the machine's CPU time from /proc/stat.
func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseMachineStat(string(b))
}

// parseMachineStat reads the "cpu" line of /proc/stat: user nice system idle iowait irq
// softirq steal..., in ticks. Guest time is part of user time already, and is not
// added again.
func parseMachineStat(s string) (machineCPU, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("/proc/stat: first line %q", line)
	}
	var m machineCPU
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("/proc/stat: %w", err)
		}
		m.total += n
		if i == 3 || i == 4 {
			m.idle += n
		}
	}
	return m, nil
}

// idleSince is the idle share of the CPU time from m0 to m, NaN if none passed.
func (m machineCPU) idleSince(m0 machineCPU) float64 {
	if m.total <= m0.total {
		return math.NaN()
	}
	return float64(m.idle-m0.idle) / float64(m.total-m0.total)
}

// parseStat reads utime and stime, the 14th and 15th fields of /proc/<pid>/stat. The
// second field, the command's name in parentheses, may hold spaces: fields are counted
// from the last ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no ')' in %q", s)
	}
	f := strings.Fields(s[i+1:]) // from the 3rd field, state, on
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the name, want 13 or more", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] { // utime, stime
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
