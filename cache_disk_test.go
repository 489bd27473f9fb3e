//go:build unix

package reqivo

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDiskCacheRefusesLooseDirectory: whoever can write in the directory
// could plant entries or swap the secret: such a directory, or a secret
// others can read, is refused with ErrInvalidOption and left as it is.
func TestDiskCacheRefusesLooseDirectory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		dirMode os.FileMode
		secret  os.FileMode // 0: no secret file yet
	}{
		{"world-writable", 0o777, 0},
		{"group-writable", 0o770, 0},
		{"other-writable", 0o703, 0},
		{"secret readable by others", 0o700, 0o644},
		{"secret writable by group", 0o700, 0o620},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "cache")
			require.NoError(t, os.Mkdir(dir, 0o700))
			if tt.secret != 0 {
				path := filepath.Join(dir, diskSecret)
				require.NoError(t, os.WriteFile(path, randomSecret(), 0o600))
				require.NoError(t, os.Chmod(path, tt.secret))
			}
			require.NoError(t, os.Chmod(dir, tt.dirMode))
			_, err := NewDiskCache(dir, 1<<20)
			assert.ErrorIs(t, err, ErrInvalidOption)
			fi, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, tt.dirMode, fi.Mode().Perm(), "the mode is not changed behind the caller's back")
		})
	}
	t.Run("0700 and 0755 are fine", func(t *testing.T) {
		t.Parallel()
		for _, mode := range []os.FileMode{0o700, 0o755} {
			dir := filepath.Join(t.TempDir(), "cache")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, mode))
			_, err := NewDiskCache(dir, 1<<20)
			assert.NoError(t, err, "%v", mode)
		}
	})
}

// TestDiskCacheNeverFollowsPlantedFiles: a symbolic link or a FIFO where
// an entry file should be is a miss, at once, and is removed: never
// followed (a link to /dev/zero would exhaust memory, one to a file
// outside would be served), never waited on (a FIFO hangs a read).
func TestDiskCacheNeverFollowsPlantedFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A valid entry for "k" outside the cache, as a planted link could
	// name it.
	outside := t.TempDir()
	donor, err := NewDiskCache(outside, 1<<20)
	require.NoError(t, err)
	require.NoError(t, donor.Set(ctx, "k", []byte("planted"), 0))
	tests := []struct {
		name  string
		plant func(path string) error
	}{
		{"link to /dev/zero", func(p string) error { return os.Symlink("/dev/zero", p) }},
		{"link to an entry outside", func(p string) error { return os.Symlink(filepath.Join(outside, fileName("k")), p) }},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c, err := NewDiskCache(dir, 1<<20)
			require.NoError(t, err)
			path := filepath.Join(dir, fileName("k"))
			require.NoError(t, tt.plant(path))
			type result struct {
				v   []byte
				ok  bool
				err error
			}
			done := make(chan result, 1)
			go func() {
				v, ok, err := c.Get(ctx, "k")
				done <- result{v, ok, err}
			}()
			select {
			case r := <-done:
				assert.NoError(t, r.err)
				assert.False(t, r.ok, "a planted file is a miss")
				assert.Empty(t, r.v)
			case <-time.After(30 * time.Second):
				// Unblock the reader so the test can end.
				if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatal("Get blocked on a planted file")
			}
			_, err = os.Lstat(path)
			assert.ErrorIs(t, err, os.ErrNotExist, "the planted file is removed")
		})
	}
}

// TestDiskCacheRefusesPlantedSecret: a secret.key that is a link or a
// FIFO is refused at once, never read nor waited on.
func TestDiskCacheRefusesPlantedSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		plant func(path string) error
	}{
		{"link", func(p string) error { return os.Symlink("/dev/zero", p) }},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			require.NoError(t, tt.plant(filepath.Join(dir, diskSecret)))
			done := make(chan error, 1)
			go func() {
				_, err := NewDiskCache(dir, 1<<20)
				done <- err
			}()
			select {
			case err := <-done:
				assert.ErrorIs(t, err, ErrInvalidOption)
			case <-time.After(30 * time.Second):
				if f, err := os.OpenFile(filepath.Join(dir, diskSecret), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatal("NewDiskCache blocked on a planted secret")
			}
		})
	}
}
