//go:build !unix

package reqivo

import "io/fs"

// diskOpenFlags is 0 where open has no O_NOFOLLOW nor O_NONBLOCK: there
// a cache file is checked with Lstat before it is opened (see
// openDiskFile), which a concurrent swap can race.
const diskOpenFlags = 0

// diskOwnedByOther is false where the owner is not a user id: the
// directory's ACL is the user's to set.
func diskOwnedByOther(fs.FileInfo) bool { return false }
