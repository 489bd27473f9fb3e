//go:build unix

package reqivo

import (
	"io/fs"
	"os"
	"syscall"
)

// diskOpenFlags open a cache file without following a symbolic link
// (ELOOP instead) and without blocking on a FIFO: a file planted in the
// directory is refused, never followed to /dev/zero nor waited on.
const diskOpenFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// diskOwnedByOther reports whether fi belongs to another user than the
// process's: whoever owns the directory can change its mode and plant
// entries.
func diskOwnedByOther(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) != os.Geteuid()
}
