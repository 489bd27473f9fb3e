package reqivo

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFacadeKeptErrorWins: a Client made with a bad base URL or option
// returns that kept error from every call, relative URL or not, before it
// looks at the URL; nothing is sent.
func TestFacadeKeptErrorWins(t *testing.T) {
	t.Parallel()
	srv := setupCountingServer(t, func(w http.ResponseWriter, r *http.Request) {})
	clients := []struct {
		name string
		c    *Client
		kind error
		says string
	}{
		{"bad base URL", New("ftp://x"), ErrInvalidURL, `base URL "ftp://x"`},
		{"bad option", New(srv.URL, WithTimeout(-1)), ErrInvalidOption, "negative timeout"},
	}
	calls := []struct {
		name string
		call func(ctx context.Context, c *Client, url string) error
	}{
		{"Get", func(ctx context.Context, c *Client, u string) error { _, err := c.Get(ctx, u); return err }},
		{"Head", func(ctx context.Context, c *Client, u string) error { _, err := c.Head(ctx, u); return err }},
		{"Options", func(ctx context.Context, c *Client, u string) error { _, err := c.Options(ctx, u); return err }},
		{"Delete", func(ctx context.Context, c *Client, u string) error { _, err := c.Delete(ctx, u); return err }},
		{"Post", func(ctx context.Context, c *Client, u string) error {
			_, err := c.Post(ctx, u, Body(strings.NewReader("x")))
			return err
		}},
		{"Put", func(ctx context.Context, c *Client, u string) error { _, err := c.Put(ctx, u); return err }},
		{"Patch", func(ctx context.Context, c *Client, u string) error { _, err := c.Patch(ctx, u); return err }},
		{"Request", func(ctx context.Context, c *Client, u string) error { _, err := c.Request(ctx, "GET", u); return err }},
		{"Request with a bad option too", func(ctx context.Context, c *Client, u string) error {
			_, err := c.Request(ctx, "GET", u, Header("Bad\n", "x"))
			return err
		}},
		{"Do", func(ctx context.Context, c *Client, u string) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			_, err = c.Do(req)
			return err
		}},
		{"HTTPClient", func(ctx context.Context, c *Client, u string) error {
			if !strings.HasPrefix(u, "http") {
				u = srv.URL + "/" + strings.TrimPrefix(u, "/") // http.Client takes absolute URLs only
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := c.HTTPClient().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}},
		{"Download", func(ctx context.Context, c *Client, u string) error {
			_, err := c.Download(ctx, u, filepath.Join(t.TempDir(), "f"))
			return err
		}},
		{"Events", func(ctx context.Context, c *Client, u string) error {
			for _, err := range c.Events(ctx, "GET", u) {
				return err
			}
			return nil
		}},
		{"JSONLines", func(ctx context.Context, c *Client, u string) error {
			for _, err := range JSONLines[any](ctx, c.Session, "GET", u) {
				return err
			}
			return nil
		}},
		{"GetJSON", func(ctx context.Context, c *Client, u string) error {
			_, _, err := GetJSON[any](ctx, c.Session, u)
			return err
		}},
		{"PostJSON", func(ctx context.Context, c *Client, u string) error {
			_, _, err := PostJSON[any](ctx, c.Session, u, 1)
			return err
		}},
		{"WebSocket", func(ctx context.Context, c *Client, u string) error { _, err := c.WebSocket(ctx, u); return err }},
	}
	for _, cl := range clients {
		t.Cleanup(func() { cl.c.Close() })
		kept := cl.c.Err()
		require.ErrorIs(t, kept, cl.kind, cl.name)
		for _, u := range []string{"/users", "users", "", srv.URL + "/users"} {
			for _, call := range calls {
				t.Run(cl.name+"/"+call.name+"/"+u, func(t *testing.T) {
					err := call.call(context.Background(), cl.c, u)
					require.Error(t, err)
					assert.ErrorIs(t, err, cl.kind)
					assert.True(t, errors.Is(err, kept), "the kept error itself, got %v", err)
					assert.Contains(t, err.Error(), cl.says)
				})
			}
		}
	}
	assert.Zero(t, srv.conns.Load(), "nothing sent")
}
