//go:build !unix

package reqivo

// noFollow is 0 where open has no O_NOFOLLOW: there a link planted at
// <target>.part is followed, as any program's open would follow it.
const noFollow = 0

// nonBlock is 0 where open has no O_NONBLOCK.
const nonBlock = 0
