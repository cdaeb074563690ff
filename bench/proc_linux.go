//go:build linux

package main

import "syscall"

// procAttr puts a child in its own process group, so that a Ctrl-C in the terminal reaches
// only bench, which then stops its children itself, and has the kernel kill the child if
// bench dies without stopping it (a SIGKILL, a crash).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// raiseNoFile sets the soft RLIMIT_NOFILE to the hard limit and returns both. The Go
// runtime already raises it at start (Go 1.19 and later), but os/exec gives children the
// original soft limit back unless the program calls Setrlimit itself: calling it makes
// twemproxy, a C program that does not raise its own, inherit the raised limit too.
func raiseNoFile() (soft, hard uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	return l.Cur, l.Max, nil
}
