//go:build !linux

package main

import "os/exec"

// dieWithParent has no portable equivalent outside Linux: a command may
// outlive a holder killed with SIGKILL there.
func dieWithParent(*exec.Cmd) {}
