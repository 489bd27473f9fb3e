package reqivotest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
)

// TestToolsWinOverNetworkOptions gives each in-process tool with each
// option that would send requests elsewhere, before it and after it (as a
// production constructor that appends its own options does): every
// request, http and https, is answered in process, and nothing is dialed.
func TestToolsWinOverNetworkOptions(t *testing.T) {
	t.Parallel()
	var dialed atomic.Int32
	refuse := func(context.Context, string, string) (net.Conn, error) {
		dialed.Add(1)
		return nil, errors.New("dialed the network")
	}
	network := []struct {
		name string
		opt  reqivo.Option
	}{
		{"WithProxy http", reqivo.WithProxy("http://127.0.0.1:1")},
		{"WithProxy socks5", reqivo.WithProxy("socks5://127.0.0.1:1")},
		{"WithDialContext", reqivo.WithDialContext(refuse)},
		{"WithDialTLSContext", reqivo.WithDialTLSContext(refuse)},
		{"all of them", reqivo.WithOptions(reqivo.WithProxy("http://127.0.0.1:1"), reqivo.WithDialContext(refuse), reqivo.WithDialTLSContext(refuse))},
	}
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %v", r.URL.Path, r.TLS != nil)
	})
	urls := []string{"http://api.example.com/a", "https://api.example.com/a"}

	// A cassette recorded in process, to replay below.
	cassette := filepath.Join(t.TempDir(), "order.cassette")
	rec := &fakeTB{}
	s, err := reqivo.NewSession(reqivotest.Cassette(rec, cassette), reqivotest.Handler(answer))
	require.NoError(t, err)
	for _, u := range urls {
		_, err := s.Get(context.Background(), u)
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
	rec.end()
	require.Empty(t, rec.errors())

	tools := []struct {
		name string
		opt  func(t *testing.T) reqivo.Option
	}{
		{"Handler", func(*testing.T) reqivo.Option { return reqivotest.Handler(answer) }},
		{"Mock", func(t *testing.T) reqivo.Option {
			m := reqivotest.NewMock(t)
			m.On("GET /a").Handle(answer).AnyTimes()
			return m.Option()
		}},
		{"Cassette", func(t *testing.T) reqivo.Option { return reqivotest.Cassette(t, cassette) }},
	}
	for _, tool := range tools {
		for _, net := range network {
			for _, after := range []bool{false, true} {
				name := tool.name + " then " + net.name
				if after {
					name = net.name + " then " + tool.name
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					opts := []reqivo.Option{tool.opt(t), net.opt}
					if after {
						opts[0], opts[1] = opts[1], opts[0]
					}
					s, err := reqivo.NewSession(opts...)
					require.NoError(t, err)
					t.Cleanup(func() { _ = s.Close() })
					for _, u := range urls {
						resp, err := s.Get(context.Background(), u)
						require.NoError(t, err, u)
						assert.Equal(t, fmt.Sprintf("/a %v", u[:5] == "https"), resp.Text(), u)
					}
				})
			}
		}
	}
	t.Cleanup(func() { assert.Zero(t, dialed.Load(), "nothing was dialed") })
}

func TestToolsRefusedWithTransport(t *testing.T) {
	t.Parallel()
	for _, after := range []bool{false, true} {
		opts := []reqivo.Option{reqivotest.Handler(http.NotFoundHandler()), reqivo.WithTransport(http.DefaultTransport)}
		if after {
			opts[0], opts[1] = opts[1], opts[0]
		}
		_, err := reqivo.NewSession(opts...)
		assert.ErrorIs(t, err, reqivo.ErrInvalidOption)
		_, err = reqivo.NewSession(append(opts, reqivotest.NewMock(t).Option())...)
		assert.ErrorIs(t, err, reqivo.ErrInvalidOption)
	}
}
