package cli_test

import (
	"context"
	"flag"
	"io"
	"net"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/redchain/redchain/cli"
	"github.com/redchain/redchain/cli/clitest"
	"github.com/redchain/redchain/internal/redistest"
	"github.com/redchain/redchain/proxy/proxytest"
	"github.com/redchain/redchain/router"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, proxytest.LeakOptions()...)
}

// run is the smallest command built on cli, as a command's run function.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var f cli.Flags
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	app, err := cli.Start(f, logOut)
	if err != nil {
		return err
	}
	defer app.Close()
	return app.Serve(ctx, app.NewServer(router.New(app.Backend)), ready)
}

func TestRegister(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want cli.Flags
	}{
		{"defaults", nil, cli.Flags{Listen: "127.0.0.1:6380", LogLevel: "info"}},
		{"all", []string{"-listen", ":1", "-upstream", "h:2", "-upstream-password", "pw", "-log-level", "debug", "-event-loops", "3"},
			cli.Flags{Listen: ":1", Upstream: "h:2", UpstreamPassword: "pw", LogLevel: "debug", EventLoops: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var f cli.Flags
			f.Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if f != tc.want {
				t.Errorf("got %+v, want %+v", f, tc.want)
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	t.Parallel()
	addr, logs := clitest.Start(t, run, "-event-loops", "2")
	if v := proxytest.Dial(t, addr.String()).Do("SET", "a", "1"); string(v.Str) != "OK" {
		t.Errorf("SET: %v", v)
	}
	for _, want := range []string{"embedded", "listening"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
}

func TestUpstream(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	addr, logs := clitest.Start(t, run, "-upstream", srv.Addr())
	if v := proxytest.Dial(t, addr.String()).Do("SET", "a", "1"); string(v.Str) != "OK" {
		t.Errorf("SET: %v", v)
	}
	if v := srv.Client().Get(context.Background(), "a").Val(); v != "1" {
		t.Errorf("the real server has a=%q, want 1", v)
	}
	if strings.Contains(logs.String(), "embedded") {
		t.Errorf("an embedded Redis with -upstream:\n%s", logs)
	}
}

// A listen address in use: Serve returns the error without calling ready.
func TestListenFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), []string{"-listen", ln.Addr().String()}, io.Discard, func(net.Addr) {
		t.Error("ready called")
	})
	if err == nil {
		t.Error("run on a used address: no error")
	}
}
