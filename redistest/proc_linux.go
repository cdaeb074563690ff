package redistest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill redis-server when the test binary dies without
// running its cleanups (a panic, a -timeout), so no server outlives its test.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
