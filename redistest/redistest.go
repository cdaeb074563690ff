package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReadyTimeout bounds how long Start and Restart wait for the server to answer PING.
const ReadyTimeout = 10 * time.Second

// ServerEnv names an environment variable that, when set, is the path of the
// redis-server binary to run instead of the one found on PATH.
const ServerEnv = "REDISTEST_SERVER"

// serverBinary returns the redis-server to run, or fails the test saying what is missing:
// the package installs nothing itself.
func serverBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(ServerEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("redistest: %s=%s: %v", ServerEnv, bin, err)
		}
		return bin
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server (Redis 7 or later) is not on PATH, and %s is not set. "+
			"This package runs real Redis servers and installs nothing itself: install Redis "+
			"(Debian and Ubuntu: apt-get install redis-server; macOS: brew install redis) or set "+
			"%s to a redis-server binary. (redchain's own `make test` installs it.)", ServerEnv, ServerEnv)
	}
	return bin
}

// startAttempts is how many free ports Start tries before it gives up: another process
// may take the port between the moment we find it free and the moment redis binds it.
const startAttempts = 5

// errAddrInUse reports that redis-server could not bind its port.
var errAddrInUse = errors.New("address already in use")

// Option configures a server started by [Start].
type Option func(*options)

type options struct {
	args []string
}

// Args appends command-line arguments for redis-server, after the defaults, so they can
// override them: Args("--requirepass", "pw").
func Args(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// Server is a redis-server process started by [Start].
type Server struct {
	t    testing.TB
	bin  string // path of redis-server
	dir  string // working directory, also holds the log
	port int
	args []string // user arguments

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil when not running
	exited chan struct{} // closed when cmd has exited
	client *redis.Client
}

// Start starts redis-server on a free port of 127.0.0.1 and waits until it answers PING.
// The server runs with persistence off (--save "" --appendonly no) in a temporary
// directory; opts add arguments. A cleanup registered on t kills it and closes the client
// returned by Client. Start fails the test, never skips it, when redis-server is missing.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin := serverBinary(t)
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: o.args}
	t.Cleanup(s.cleanup)
	var err error
	for attempt := 1; ; attempt++ {
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		s.mu.Lock()
		err = s.launch()
		s.mu.Unlock()
		if err == nil {
			return s
		}
		if !errors.Is(err, errAddrInUse) || attempt == startAttempts {
			t.Fatalf("redistest: start redis-server: %v", err)
		}
	}
}

// Addr returns the server's address, "127.0.0.1:port". It stays the same across Restart.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Kill kills the server with SIGKILL and waits until the process has exited. Connections
// to it break at once. Killing a server that is not running does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

// Restart starts the server again on the same port, killing it first if it is running,
// and waits until it answers PING. The data is gone: persistence is off.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
	deadline := time.Now().Add(ReadyTimeout)
	for {
		err := s.launch()
		if err == nil {
			return
		}
		// The port can only be taken by another process in the meantime; wait for it
		// to let go, within the deadline.
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			s.t.Fatalf("redistest: restart redis-server on %s: %v", s.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client returns a go-redis client of the server's db 0, speaking RESP2, with the
// password given by a --requirepass argument if any. The same client is returned on every
// call; it is closed by the cleanup of Start.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{
			Addr:     s.Addr(),
			Password: s.Password(),
			Protocol: 2,
			// Generous: a loaded test machine (the race detector, parallel packages)
			// can take seconds to move a 10 MiB value; go-redis's default is 3s.
			ReadTimeout:  30 * time.Second,
			WriteTimeout: 30 * time.Second,
		})
	}
	return s.client
}

// Password returns the value of the server's --requirepass argument, or "".
func (s *Server) Password() string {
	pw := ""
	for i := 0; i+1 < len(s.args); i++ {
		if s.args[i] == "--requirepass" {
			pw = s.args[i+1]
		}
	}
	return pw
}

func (s *Server) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
}

// kill kills the process and waits for it. s.mu is held.
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // fails only if it has exited already
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// launch starts redis-server on s.port and waits until it answers PING. It returns an
// error wrapping errAddrInUse when the port was taken. s.mu is held.
func (s *Server) launch() error {
	logPath := filepath.Join(s.dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
	}
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile // files: no copying goroutines
	setPdeathsig(cmd)
	err = cmd.Start()
	_ = logFile.Close() // the child has its own descriptor
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(ReadyTimeout)
	for {
		select {
		case <-exited:
			s.cmd, s.exited = nil, nil
			log, _ := os.ReadFile(logPath)
			if strings.Contains(string(log), "Address already in use") {
				return fmt.Errorf("port %d: %w", s.port, errAddrInUse)
			}
			return fmt.Errorf("redis-server exited: %s; log:\n%s", cmd.ProcessState, log)
		default:
		}
		err := ping(s.Addr())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("no answer to PING on %s within %v (last error: %v); log:\n%s",
				s.Addr(), ReadyTimeout, err, log)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// ping sends one PING and accepts any answer but -LOADING: a server that requires a
// password answers -NOAUTH, and it is ready all the same.
func ping(addr string) error {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := nc.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+") && !strings.HasPrefix(line, "-") || strings.HasPrefix(line, "-LOADING") {
		return fmt.Errorf("PING answered %q", line)
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
