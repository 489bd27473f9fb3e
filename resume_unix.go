//go:build unix

package reqivo

import "syscall"

// noFollow makes openPart refuse a part that is a symbolic link, so that a
// link planted at the predictable <target>.part cannot send the body
// elsewhere.
const noFollow = syscall.O_NOFOLLOW

// nonBlock makes opening a FIFO planted at a meta file's path return at
// once instead of waiting for a writer; the regular-file check refuses it.
const nonBlock = syscall.O_NONBLOCK
