//go:build unix

package reqivo

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDownloadFileMode: a download keeps the mode of the file it replaces,
// gives a new file 0666 less the umask (as curl and wget do), and keeps
// the file it writes at 0600 until the rename. The umask is the process's:
// this test changes it, so it does not run in parallel (parallel tests
// start only after the sequential ones end).
func TestDownloadFileMode(t *testing.T) {
	old := syscall.Umask(0o027)
	t.Cleanup(func() { syscall.Umask(old) })

	var midway []fs.FileMode // the modes of the files beside the target while the body is sent
	var dir string
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", "6")
		_, _ = w.Write([]byte("abc"))
		w.(http.Flusher).Flush()
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if strings.Contains(e.Name(), ".part") {
				fi, err := os.Stat(filepath.Join(dir, e.Name()))
				if err == nil {
					midway = append(midway, fi.Mode().Perm())
				}
			}
		}
		_, _ = w.Write([]byte("def"))
	})
	for _, tt := range []struct {
		name   string
		old    fs.FileMode // 0: no file before
		resume bool
		want   fs.FileMode
	}{
		{name: "new file gets 0666 less the umask", want: 0o640},
		{name: "new file with Resume", resume: true, want: 0o640},
		{name: "0600 stays 0600", old: 0o600, want: 0o600},
		{name: "0600 stays 0600 with Resume", old: 0o600, resume: true, want: 0o600},
		{name: "0755 stays 0755", old: 0o755, want: 0o755},
		{name: "0444 stays 0444", old: 0o444, want: 0o444},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir = t.TempDir()
			midway = nil
			target := filepath.Join(dir, "out")
			if tt.old != 0 {
				require.NoError(t, os.WriteFile(target, []byte("old"), 0o600))
				require.NoError(t, os.Chmod(target, tt.old))
			}
			var opts []RequestOption
			if tt.resume {
				opts = append(opts, Resume())
			}
			s := newTestSession(t)
			_, err := s.Download(context.Background(), srv.URL, target, opts...)
			require.NoError(t, err)
			fi, err := os.Stat(target)
			require.NoError(t, err)
			assert.Equal(t, tt.want, fi.Mode().Perm())
			got, err := os.ReadFile(target)
			require.NoError(t, err)
			assert.Equal(t, "abcdef", string(got))
			require.NotEmpty(t, midway, "the file being written was seen")
			for _, m := range midway {
				assert.Equal(t, fs.FileMode(0o600), m, "the file being written is the owner's only")
			}
			assert.Equal(t, []string{"out"}, dirEntries(t, dir))
		})
	}
}

// A symbolic link planted at the predictable part file does not send
// the body elsewhere: the download fails and the file it points to is
// untouched.
func TestResumeRefusesLinkedPart(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("body"))
	})
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o600))
	target := filepath.Join(dir, "out")
	require.NoError(t, os.Symlink(victim, partOf(t, target, srv.URL)))
	s := newTestSession(t)
	_, err := s.Download(context.Background(), srv.URL, target, Resume())
	require.ErrorIs(t, err, ErrInvalidOption)
	got, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(got))
	assert.Zero(t, hits.Load(), "nothing was sent")
	_, err = os.Stat(target)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestResumeMetaNotFollowed: a meta file path holding a symbolic link (to a
// meta file that would otherwise be trusted) or a FIFO is not read: the
// download neither follows the link nor waits for a writer, and starts
// from zero.
func TestResumeMetaNotFollowed(t *testing.T) {
	t.Parallel()
	payload := testPayload(6)
	for _, tt := range []struct {
		name  string
		plant func(t *testing.T, meta, elsewhere string)
	}{
		{"symbolic link", func(t *testing.T, meta, elsewhere string) {
			require.NoError(t, os.Rename(meta, elsewhere))
			require.NoError(t, os.Symlink(elsewhere, meta))
		}},
		{"FIFO", func(t *testing.T, meta, _ string) {
			require.NoError(t, os.Remove(meta))
			require.NoError(t, syscall.Mkfifo(meta, 0o600))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, payload, `"v6"`)
			dir := t.TempDir()
			target := filepath.Join(dir, "file.bin")
			writePart(t, target, payload, 1000, f.URL, `"v6"`)
			meta := partOf(t, target, f.URL) + ".meta"
			_, ok := readPartMeta(meta)
			require.True(t, ok, "the planted meta would be trusted as a file")
			tt.plant(t, meta, filepath.Join(t.TempDir(), "meta"))

			_, ok = readPartMeta(meta)
			assert.False(t, ok)
			s := newTestSession(t)
			_, err := s.Download(context.Background(), f.URL, target, Resume(), VerifySHA256(sha256Hex(payload)))
			require.NoError(t, err)
			reqs := f.requests()
			require.Len(t, reqs, 1)
			assert.Empty(t, reqs[0].Range, "started from zero")
			assert.Equal(t, []string{"file.bin"}, dirEntries(t, dir))
		})
	}
}
