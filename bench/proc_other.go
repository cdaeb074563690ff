//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// procAttr does nothing: process groups and Pdeathsig are set up on Linux only.
func procAttr() *syscall.SysProcAttr { return nil }

// raiseNoFile is not supported: bench runs on Linux.
func raiseNoFile() (soft, hard uint64, err error) {
	return 0, 0, errors.New("raising RLIMIT_NOFILE is implemented on Linux only")
}
