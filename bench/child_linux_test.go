package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the server child get SIGTERM if this process dies
// without stopping it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
