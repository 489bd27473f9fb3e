package reqivo

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entryPoints are the ways into a request, each returning the first error
// it gives (nil for none).
var entryPoints = []struct {
	name  string
	nilOK bool // takes no context of its own (Do's is the request's)
	call  func(ctx context.Context, s *Session, url, dir string, opts ...RequestOption) error
}{
	{"Request", false, func(ctx context.Context, s *Session, url, _ string, opts ...RequestOption) error {
		_, err := s.Get(ctx, url, opts...)
		return err
	}},
	{"Do", true, func(ctx context.Context, s *Session, url, _ string, _ ...RequestOption) error {
		if ctx == nil {
			ctx = context.Background()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := s.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}},
	{"WebSocket", false, func(ctx context.Context, s *Session, url, _ string, _ ...RequestOption) error {
		ws, err := s.WebSocket(ctx, url)
		if err == nil {
			ws.Close()
		}
		return err
	}},
	{"Events", false, func(ctx context.Context, s *Session, url, _ string, opts ...RequestOption) error {
		for _, err := range s.Events(ctx, http.MethodGet, url, opts...) {
			return err
		}
		return nil
	}},
	{"JSONLines", false, func(ctx context.Context, s *Session, url, _ string, opts ...RequestOption) error {
		for _, err := range JSONLines[any](ctx, s, http.MethodGet, url, opts...) {
			return err
		}
		return nil
	}},
	{"Download", false, func(ctx context.Context, s *Session, url, dir string, opts ...RequestOption) error {
		_, err := s.Download(ctx, url, filepath.Join(dir, "file"), opts...)
		return err
	}},
	{"RequestJSON", false, func(ctx context.Context, s *Session, url, _ string, opts ...RequestOption) error {
		_, _, err := RequestJSON[any](ctx, s, http.MethodGet, url, opts...)
		return err
	}},
}

// hitCounter is a server that counts the requests it gets.
func hitCounter(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusTeapot)
	})
	return srv.URL, &hits
}

// assertRefused checks that err is a *RequestError of kind, and that
// nothing was sent nor written.
func assertRefused(t *testing.T, err, kind error, hits *atomic.Int64, dir string) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, kind)
	var re *RequestError
	assert.ErrorAs(t, err, &re)
	assert.Zero(t, hits.Load(), "nothing sent")
	left, _ := os.ReadDir(dir)
	assert.Empty(t, left, "nothing written")
	assert.Equal(t, 1, strings.Count(err.Error(), "reqivo:"), err.Error())
}

// TestEntryPointGuards: every entry point refuses the same way, with the
// same kind and nothing sent, a closed session, a kept construction error,
// a nil context and an invalid persistent setting.
func TestEntryPointGuards(t *testing.T) {
	t.Parallel()
	guards := []struct {
		name    string
		session func(t *testing.T) *Session
		ctx     context.Context
		kind    error
	}{
		{"closed", func(t *testing.T) *Session {
			s := newTestSession(t)
			require.NoError(t, s.Close())
			return s
		}, context.Background(), ErrClosed},
		{"kept error", func(*testing.T) *Session { return New("", WithTimeout(-1)).Session }, context.Background(), ErrInvalidOption},
		{"nil context", func(t *testing.T) *Session { return newTestSession(t) }, nil, ErrInvalidOption},
		{"invalid setting", func(t *testing.T) *Session {
			s := newTestSession(t)
			s.SetHeader("X-Bad", "a\nb")
			return s
		}, context.Background(), ErrInvalidHeader},
		{"zero session", func(*testing.T) *Session { return &Session{} }, context.Background(), ErrInvalidOption},
	}
	for _, g := range guards {
		for _, e := range entryPoints {
			if g.ctx == nil && e.nilOK {
				continue
			}
			t.Run(g.name+"/"+e.name, func(t *testing.T) {
				t.Parallel()
				url, hits := hitCounter(t)
				dir := t.TempDir()
				assertRefused(t, e.call(g.ctx, g.session(t), url, dir), g.kind, hits, dir)
			})
		}
	}
}

// TestMisappliedOptionRefused: an option given where it cannot apply is
// ErrInvalidOption with nothing sent, never silently ignored.
func TestMisappliedOptionRefused(t *testing.T) {
	t.Parallel()
	digest := strings.Repeat("ab", 32)
	tests := []struct {
		entry string
		opt   RequestOption
	}{
		{"Request", Reconnect(3)},
		{"Request", Reconnect(0)},
		{"JSONLines", Reconnect(3)},
		{"Download", Reconnect(1)},
		{"RequestJSON", Reconnect(1)},
		{"Request", Resume()},
		{"Events", Resume()},
		{"JSONLines", Resume()},
		{"Request", VerifySHA256(digest)},
		{"Events", VerifySHA256(digest)},
		{"RequestJSON", VerifySHA256(digest)},
	}
	for _, tt := range tests {
		for _, e := range entryPoints {
			if e.name != tt.entry {
				continue
			}
			t.Run(tt.entry, func(t *testing.T) {
				t.Parallel()
				url, hits := hitCounter(t)
				dir := t.TempDir()
				err := e.call(context.Background(), newTestSession(t), url, dir, tt.opt)
				assertRefused(t, err, ErrInvalidOption, hits, dir)
			})
		}
	}

	t.Run("in place", func(t *testing.T) {
		t.Parallel()
		url, hits := hitCounter(t)
		s := newTestSession(t)
		for _, err := range s.Events(context.Background(), http.MethodGet, url, Reconnect(0)) {
			var he *HTTPError
			assert.ErrorAs(t, err, &he, "Reconnect applies to Events: the request is sent")
		}
		assert.EqualValues(t, 1, hits.Load())
	})

	t.Run("WithMaxConcurrency", func(t *testing.T) {
		t.Parallel()
		_, err := NewSession(WithMaxConcurrency(4))
		assert.ErrorIs(t, err, ErrInvalidOption)
		_, err = NewSession(WithOptions(WithMaxConcurrency(4)))
		assert.ErrorIs(t, err, ErrInvalidOption)
		url, hits := hitCounter(t)
		c := New(url, WithMaxConcurrency(4))
		assert.ErrorIs(t, c.Err(), ErrInvalidOption)
		_, err = c.Get(context.Background(), "/")
		assertRefused(t, err, ErrInvalidOption, hits, t.TempDir())
		a, err := NewAsyncSession(WithMaxConcurrency(4))
		require.NoError(t, err, "an AsyncSession takes it")
		assert.Equal(t, 4, a.MaxConcurrency())
		require.NoError(t, a.Close())
	})
}

// TestOneRequestErrorBuilder: the package builds its *RequestError in one
// place, so that every entry point's errors read alike.
func TestOneRequestErrorBuilder(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	require.NoError(t, err)
	var at []string
	for _, p := range pkgs {
		for name, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				if cl, ok := n.(*ast.CompositeLit); ok {
					if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "RequestError" {
						at = append(at, name)
					}
				}
				return true
			})
		}
	}
	assert.Equal(t, []string{"begin.go"}, at)
}
