package reqivo

import (
	"context"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// boundServer answers /block once released, and every other path at once
// with what the path asks for: events, JSON lines, JSON, a WebSocket.
type boundServer struct {
	release chan struct{}
	once    sync.Once
	hits    sync.Map // path -> *atomic.Int64
	url     string
}

func setupBoundServer(t *testing.T) *boundServer {
	t.Helper()
	b := &boundServer{release: make(chan struct{})}
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := b.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		switch r.URL.Path {
		case "/block":
			select {
			case <-b.release:
			case <-r.Context().Done():
			}
		case "/events":
			sseStart(w)
			sseSend(w, "data: one\n\n")
		case "/lines":
			io.WriteString(w, "{\"n\":1}\n")
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "{\"n\":1}")
		case "/ws":
			wsHandler(nil, func(ctx context.Context, c *websocket.Conn) {
				c.Close(websocket.StatusNormalClosure, "")
			})(w, r)
		default:
			io.WriteString(w, "ok")
		}
	})
	b.url = srv.URL
	t.Cleanup(b.open) // before srv.Close, which waits for handlers
	return b
}

func (b *boundServer) open() { b.once.Do(func() { close(b.release) }) }

func (b *boundServer) count(path string) int64 {
	if n, ok := b.hits.Load(path); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// awaitLine waits until n requests wait in a's line.
func awaitLine(t *testing.T, a *AsyncSession, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return a.slots.waiting() == n }, patience, time.Millisecond,
		"%d requests in line", n)
}

// Every way a request of an AsyncSession's session is made waits for a
// slot: with the one slot held, it is not sent; released, it goes.
func TestAsyncBoundEveryPath(t *testing.T) {
	t.Parallel()
	paths := []struct {
		name, path string
		send       func(ctx context.Context, a *AsyncSession, base string) error
	}{
		{"future", "/get", func(ctx context.Context, a *AsyncSession, base string) error {
			_, err := a.Get(ctx, base+"/get").Wait()
			return err
		}},
		{"Session field", "/get", func(ctx context.Context, a *AsyncSession, base string) error {
			_, err := a.Session.Get(ctx, base+"/get")
			return err
		}},
		{"Stream", "/get", func(ctx context.Context, a *AsyncSession, base string) error {
			r, err := a.Session.Get(ctx, base+"/get", Stream())
			if err == nil {
				r.Close()
			}
			return err
		}},
		{"Do", "/get", func(ctx context.Context, a *AsyncSession, base string) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/get", nil)
			resp, err := a.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}},
		{"HTTPClient", "/get", func(ctx context.Context, a *AsyncSession, base string) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/get", nil)
			resp, err := a.HTTPClient().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}},
		{"Events", "/events", func(ctx context.Context, a *AsyncSession, base string) error {
			for _, err := range a.Events(ctx, http.MethodGet, base+"/events") {
				return err // the first event is enough
			}
			return nil
		}},
		{"JSONLines", "/lines", func(ctx context.Context, a *AsyncSession, base string) error {
			for _, err := range JSONLines[map[string]int](ctx, a.Session, http.MethodGet, base+"/lines") {
				return err
			}
			return nil
		}},
		{"GetJSON", "/json", func(ctx context.Context, a *AsyncSession, base string) error {
			_, _, err := GetJSON[map[string]int](ctx, a.Session, base+"/json")
			return err
		}},
		{"Download", "/get", func(ctx context.Context, a *AsyncSession, base string) error {
			_, err := a.Download(ctx, base+"/get", t.TempDir()+"/f")
			return err
		}},
		{"WebSocket", "/ws", func(ctx context.Context, a *AsyncSession, base string) error {
			ws, err := a.WebSocket(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws")
			if err == nil {
				ws.Close()
			}
			return err
		}},
	}
	for _, tt := range paths {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := setupBoundServer(t)
			a := newTestAsync(t, WithMaxConcurrency(1))
			held := a.Get(context.Background(), srv.url+"/block")
			require.Eventually(t, func() bool { return srv.count("/block") == 1 }, patience, time.Millisecond)

			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tt.send(ctx, a, srv.url) }()
			awaitLine(t, a, 1)
			assert.Zero(t, srv.count(tt.path), "sent while the only slot is held")
			select {
			case err := <-done:
				t.Fatalf("returned while the only slot is held (err %v)", err)
			default:
			}

			srv.open()
			_, err := await(t, held)
			require.NoError(t, err)
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(patience):
				t.Fatal("did not proceed once the slot was free")
			}
			assert.EqualValues(t, 1, srv.count(tt.path))
			assert.Zero(t, a.slots.waiting())
		})
	}
}

// A streamed response holds its slot until its body is closed; an event
// stream until the caller stops reading it.
func TestAsyncStreamHoldsItsSlot(t *testing.T) {
	t.Parallel()
	holders := []struct {
		name string
		hold func(a *AsyncSession, base string) (release func())
	}{
		{"Stream", func(a *AsyncSession, base string) func() {
			r, err := a.Get(context.Background(), base+"/get", Stream()).Wait()
			require.NoError(t, err)
			return func() { r.Close() }
		}},
		{"Events", func(a *AsyncSession, base string) func() {
			next, stop := iter.Pull2(a.Events(context.Background(), http.MethodGet, base+"/events"))
			_, err, ok := next()
			require.True(t, ok)
			require.NoError(t, err)
			return stop
		}},
	}
	for _, tt := range holders {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := setupBoundServer(t)
			a := newTestAsync(t, WithMaxConcurrency(1))
			release := tt.hold(a, srv.url)
			f := a.Get(context.Background(), srv.url+"/after")
			awaitLine(t, a, 1)
			assert.Zero(t, srv.count("/after"))
			release()
			_, err := await(t, f)
			require.NoError(t, err)
			assert.EqualValues(t, 1, srv.count("/after"))
		})
	}
}

// A future refused before its call begins gives its slot back; a blocking
// request whose context ends in line leaves it, nothing sent.
func TestAsyncSlotGivenBack(t *testing.T) {
	t.Parallel()
	srv := setupBoundServer(t)
	a := newTestAsync(t, WithMaxConcurrency(1))
	_, err := await(t, a.Get(context.Background(), srv.url+"/{id}"))
	require.Error(t, err)
	_, err = await(t, a.Get(context.Background(), srv.url+"/get"))
	require.NoError(t, err, "the refused future's slot was given back")

	held := a.Get(context.Background(), srv.url+"/block")
	require.Eventually(t, func() bool { return srv.count("/block") == 1 }, patience, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Session.Get(ctx, srv.url+"/cancelled")
		done <- err
	}()
	awaitLine(t, a, 1)
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, ErrCanceled)
	case <-time.After(patience):
		t.Fatal("a cancelled request stayed in line")
	}
	assert.Zero(t, a.slots.waiting())
	srv.open()
	_, err = await(t, held)
	require.NoError(t, err)
	_, err = a.Session.Get(context.Background(), srv.url+"/get")
	require.NoError(t, err)
	assert.Zero(t, srv.count("/cancelled"))
}
