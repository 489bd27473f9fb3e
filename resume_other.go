//go:build !unix

package reqivo

// noFollow is 0 where open has no O_NOFOLLOW; openPart then checks that
// the part is a regular file after opening it.
const noFollow = 0
