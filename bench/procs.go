package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	readyTimeout = 15 * time.Second // for a started process to answer PING
	stopTimeout  = 3 * time.Second  // between SIGTERM and SIGKILL
	launchTries  = 3                // free ports tried, in case one is taken meanwhile
)

// proc is a child process: redis-server, nutcracker or redchain.
type proc struct {
	name string
	addr string // host:port it serves on
	cmd  *exec.Cmd
	log  string        // file with its stdout and stderr
	done chan struct{} // closed when it has exited
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to stopTimeout, then kills. It returns when the process
// has exited; stopping an exited process does nothing.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exitReport says when and how an exited process ended, with the end of its log.
func (p *proc) exitReport(when string) string {
	s := fmt.Sprintf("%s exited %s (%s)", p.name, when, p.cmd.ProcessState)
	if tail := p.logTail(); tail != "" {
		s += "; its log:\n" + tail
	}
	return s
}

// logTail returns the last lines of the process's log, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// procs is every process bench started; stopAll stops them, the last started first.
type procs struct {
	mu   sync.Mutex
	list []*proc
}

func (ps *procs) add(p *proc) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.list = append(ps.list, p)
}

func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop()
	}
}

// launch starts a process on a free loopback port and waits until it answers PING there.
// args builds the command line for a port. A process that exits before it answers (its
// port was taken meanwhile, say) is tried again on another port, launchTries times.
func launch(ctx context.Context, ps *procs, dir, name string, args func(port int) ([]string, error)) (*proc, error) {
	var lastErr error
	for try := 0; try < launchTries; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		argv, err := args(port)
		if err != nil {
			return nil, err
		}
		p, err := startProc(ps, dir, name, argv)
		if err != nil {
			return nil, err
		}
		p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = waitReady(ctx, p)
		if err == nil {
			return p, nil
		}
		p.stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	return nil, lastErr
}

// startProc starts argv with its output in dir/name.log and registers it in ps.
func startProc(ps *procs, dir, name string, argv []string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile // files: no copying goroutines
	cmd.SysProcAttr = procAttr()
	err = cmd.Start()
	_ = logFile.Close() // the child has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	ps.add(p)
	return p, nil
}

// waitReady polls p with PING until it answers +PONG, it exits, or readyTimeout passes.
func waitReady(ctx context.Context, p *proc) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		if p.exited() {
			return errors.New(p.exitReport("before answering PING on " + p.addr))
		}
		err := ping(ctx, p.addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no +PONG on %s within %v (last error: %v); its log:\n%s",
				p.name, p.addr, readyTimeout, err, p.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling interval, not synchronisation
		}
	}
}

// ping sends one PING on a new connection and expects +PONG.
func ping(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	return pingOn(nc)
}

var pingCmd = []byte("*1\r\n$4\r\nPING\r\n")

// pingOn sends PING on nc and reads exactly the +PONG reply, nothing more.
func pingOn(nc net.Conn) error {
	if _, err := nc.Write(pingCmd); err != nil {
		return err
	}
	var buf [7]byte
	if _, err := io.ReadFull(nc, buf[:]); err != nil {
		return err
	}
	if string(buf[:]) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf[:])
	}
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts redis-server without persistence.
func startRedis(ctx context.Context, ps *procs, dir, name string) (*proc, error) {
	return launch(ctx, ps, dir, name, func(port int) ([]string, error) {
		return []string{bin("redis-server"),
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
		}, nil
	})
}

// twemproxyConfig is the nutcracker pool in front of one Redis server.
func twemproxyConfig(listen, redisAddr string, serverConns int) string {
	return fmt.Sprintf(`bench:
  listen: %s
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  preconnect: true
  server_connections: %d
  servers:
   - %s:1
`, listen, serverConns, redisAddr)
}

// startTwemproxy starts nutcracker in the foreground (no -d) with a generated config and
// its stats listener on another free loopback port (the default, 0.0.0.0:22222, would
// clash with a second instance).
func startTwemproxy(ctx context.Context, ps *procs, dir, name, redisAddr string, serverConns int) (*proc, error) {
	return launch(ctx, ps, dir, name, func(port int) ([]string, error) {
		conf := filepath.Join(dir, name+".yml")
		if err := os.WriteFile(conf, []byte(twemproxyConfig(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), redisAddr, serverConns)), 0o644); err != nil {
			return nil, err
		}
		stats, err := freePort()
		if err != nil {
			return nil, err
		}
		return []string{bin("nutcracker"), "-c", conf, "-o", filepath.Join(dir, name+".nc.log"),
			"-s", strconv.Itoa(stats), "-a", "127.0.0.1"}, nil
	})
}

// startRedchain starts the examples/basic binary in front of redisAddr.
func startRedchain(ctx context.Context, ps *procs, dir, name, bin, redisAddr string, extra []string) (*proc, error) {
	return launch(ctx, ps, dir, name, func(port int) ([]string, error) {
		argv := []string{bin, "-upstream", redisAddr, "-log-level", "warn",
			"-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		return append(argv, extra...), nil
	})
}

// preload SETs every key the benchmarks read, straight into Redis, so that GET and MGET
// always find a value: key:<12 digits> (redis-benchmark's -r naming) with 3 bytes, as its
// SET writes, and bigN keys with size bytes.
func preload(ctx context.Context, addr string, small int, bigPrefix string, big, size int) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		return err
	}
	w := bufio.NewWriterSize(nc, 64<<10)
	r := bufio.NewReader(nc)
	bigValue := strings.Repeat("x", size)
	const batch = 1000
	sent := 0
	set := func(key, value string) {
		fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(value), value)
		sent++
	}
	flush := func() error {
		if err := w.Flush(); err != nil {
			return err
		}
		for ; sent > 0; sent-- {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if line != "+OK\r\n" {
				return fmt.Errorf("preload: SET answered %q", line)
			}
		}
		return ctx.Err()
	}
	for i := 0; i < small; i++ {
		set(fmt.Sprintf("key:%012d", i), "xxx")
		if sent == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for i := 0; i < big; i++ {
		set(fmt.Sprintf("%s%012d", bigPrefix, i), bigValue)
		if sent == batch/10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// check makes sure a target really serves the commands the benchmark sends, so that a
// proxy that answers errors fast does not look fast: SET then GET, MGET of 10 preloaded
// keys, GET of a big preloaded key.
func check(ctx context.Context, addr, bigKey string, size int) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	r := bufio.NewReader(nc)
	mget := "*11\r\n$4\r\nMGET\r\n"
	for i := 0; i < 10; i++ {
		mget += "$16\r\nkey:" + fmt.Sprintf("%012d", i) + "\r\n"
	}
	cmds := "*3\r\n$3\r\nSET\r\n$11\r\nbench:check\r\n$2\r\nok\r\n" +
		"*2\r\n$3\r\nGET\r\n$11\r\nbench:check\r\n" +
		mget +
		fmt.Sprintf("*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(bigKey), bigKey)
	if _, err := io.WriteString(nc, cmds); err != nil {
		return err
	}
	want := "+OK\r\n$2\r\nok\r\n*10\r\n" + strings.Repeat("$3\r\nxxx\r\n", 10) +
		fmt.Sprintf("$%d\r\n%s\r\n", size, strings.Repeat("x", size))
	got := make([]byte, len(want))
	if n, err := io.ReadFull(r, got); err != nil {
		return fmt.Errorf("reading the replies: %w (got %q so far)", err, shorten(got[:n]))
	}
	if string(got) != want {
		return fmt.Errorf("unexpected replies %q", shorten(got))
	}
	return nil
}

func shorten(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// bins maps each tool bench runs to its path, once findTools has found them.
var bins = map[string]string{}

// bin returns the path of a tool found by findTools.
func bin(name string) string {
	if p, ok := bins[name]; ok {
		return p
	}
	return name
}

// findTools finds redis-server, redis-benchmark, nutcracker and go on PATH, and in the
// sbin folders too: Debian installs nutcracker in /usr/sbin, which a user's PATH lacks.
func findTools() error {
	for _, name := range []string{"redis-server", "redis-benchmark", "nutcracker", "go"} {
		p, err := exec.LookPath(name)
		if err != nil {
			for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
				if q, qerr := exec.LookPath(filepath.Join(dir, name)); qerr == nil {
					p, err = q, nil
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("%s not found; `make bench` installs it (scripts/install-deps.sh bench)", name)
		}
		bins[name] = p
	}
	return nil
}
