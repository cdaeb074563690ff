package router_test

import (
	"bufio"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redchain/redchain/proxy/proxytest"
)

// TestMonitor runs redis-cli monitor through the proxy: it sees the commands another
// client sends, and the proxy goes on serving the others.
func TestMonitor(t *testing.T) {
	st := newStack(t, nil)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redis-cli not found (Debian package redis-tools, which make test installs)")
	}
	host, port, _ := strings.Cut(st.proxy.Addr(), ":")
	cmd := exec.Command(cli, "-h", host, "-p", port, "monitor")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := bufio.NewReader(out)
	if l, err := lines.ReadString('\n'); err != nil || strings.TrimSpace(l) != "OK" {
		t.Fatalf("redis-cli monitor printed %q, %v; want OK", l, err)
	}
	other := proxytest.Dial(t, st.proxy.Addr())
	done := make(chan string, 1)
	go func() {
		for {
			l, err := lines.ReadString('\n')
			if err != nil || strings.Contains(l, `"monitored-key"`) {
				done <- l
				return
			}
		}
	}()
	if got := reply(other.Do("SET", "monitored-key", "v")); got != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	select {
	case l := <-done:
		if !strings.Contains(l, `"SET" "monitored-key" "v"`) {
			t.Fatalf("monitor line %q", l)
		}
	case <-time.After(wait):
		t.Fatal("redis-cli monitor did not show the SET")
	}
}

// TestSync attaches to the replication stream through the proxy, as Redis's own test
// suite does (SYNC, then the RDB payload, then the commands), and sees another client's
// write in it.
func TestSync(t *testing.T) {
	st := newStack(t, nil)
	c := proxytest.Dial(t, st.proxy.Addr())
	c.WriteRaw([]byte("SYNC\r\n"))
	r := bufio.NewReader(c.Conn())
	var count string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the RDB's length: %v", err)
		}
		if l = strings.TrimSpace(l); l != "" { // newlines are keepalives
			count = l
			break
		}
	}
	if !strings.HasPrefix(count, "$") {
		t.Fatalf("SYNC: %q, want the RDB's length", count)
	}
	n, err := strconv.Atoi(count[1:])
	if err != nil {
		t.Fatal(err)
	}
	rdb := make([]byte, n)
	if _, err := io.ReadFull(r, rdb); err != nil || !strings.HasPrefix(string(rdb), "REDIS") {
		t.Fatalf("RDB payload of %d bytes: %q..., %v", n, rdb[:min(n, 9)], err)
	}
	other := proxytest.Dial(t, st.proxy.Addr())
	if got := reply(other.Do("SET", "replicated-key", "v")); got != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	var stream strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(stream.String(), "replicated-key") {
		m, err := r.Read(buf)
		if err != nil {
			t.Fatalf("replication stream so far %q: %v", stream.String(), err)
		}
		stream.Write(buf[:m])
	}
}

// TestMonitorThenRefused checks that a client whose connection became a stream
// (MONITOR) cannot have the server run, in its stead, what the proxy refuses or answers
// itself: SHUTDOWN and CLIENT KILL end the monitoring client, and the server and the
// other clients go on.
func TestMonitorThenRefused(t *testing.T) {
	st := newStack(t, nil)
	other := proxytest.Dial(t, st.proxy.Addr())
	for _, cmd := range [][]string{{"SHUTDOWN", "NOSAVE"}, {"CLIENT", "KILL", "TYPE", "normal"}} {
		m := proxytest.Dial(t, st.proxy.Addr())
		if got := reply(m.Do("MONITOR")); got != "+OK\r\n" {
			t.Fatalf("MONITOR = %q", got)
		}
		m.Send(cmd)
		for {
			if _, err := m.ReadErr(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("after %q the monitoring client reads %v, want EOF", cmd, err)
			}
		}
		if got := reply(other.Do("PING")); got != "+PONG\r\n" {
			t.Fatalf("PING of another client after %q = %q", cmd, got)
		}
	}
}
