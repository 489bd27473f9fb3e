package reqivo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// setupJSONServer answers each path with a fixed status, Content-Type and
// body, and echoes the Accept header it got in X-Got-Accept.
func setupJSONServer(t testing.TB) string {
	t.Helper()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Got-Accept", r.Header.Get("Accept"))
		reply := func(status int, ct, body string) {
			if ct != "" {
				w.Header().Set("Content-Type", ct)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
		switch r.URL.Path {
		case "/user":
			reply(200, "application/json; charset=utf-8", `{"id":1,"name":"ada"}`)
		case "/problem":
			reply(200, "application/vnd.api+json", `{"id":2,"name":"bob"}`)
		case "/echo":
			if r.Header.Get("Content-Type") != "application/json" {
				reply(415, "text/plain", "want JSON")
				return
			}
			var u user
			if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
				reply(400, "text/plain", err.Error())
				return
			}
			u.ID = 42
			b, _ := json.Marshal(u)
			reply(201, "application/json", string(b))
		case "/html":
			reply(200, "text/html", "<html>login</html>")
		case "/untyped":
			w.Header()["Content-Type"] = nil
			reply(200, "", `{"id":1}`)
		case "/bad":
			reply(200, "application/json", `{"id":`)
		case "/wrong-type":
			reply(200, "application/json", `{"id":"one"}`)
		case "/null":
			reply(200, "application/json", " null\n")
		case "/trailing":
			reply(200, "application/json", `{"id":1,"name":"ada"} {"id":2}`)
		case "/empty":
			reply(204, "", "")
		case "/missing":
			reply(404, "application/json", `{"error":"no such user"}`)
		}
	})
	return srv.URL
}

func TestGetJSON(t *testing.T) {
	t.Parallel()
	base := setupJSONServer(t)
	s := newTestSession(t, WithBaseURL(base))
	tests := []struct {
		name    string
		path    string
		opts    []RequestOption
		want    user
		kind    error
		status  int // of an *HTTPError
		noResp  bool
		wantAcc string
	}{
		{name: "ok", path: "/user", want: user{1, "ada"}, wantAcc: "application/json"},
		{name: "ok streamed", path: "/user", opts: []RequestOption{Stream()}, want: user{1, "ada"}, wantAcc: "application/json"},
		{name: "+json type", path: "/problem", want: user{2, "bob"}, wantAcc: "application/json"},
		{name: "caller's Accept wins", path: "/user", opts: []RequestOption{Header("Accept", "application/vnd.x+json")}, want: user{1, "ada"}, wantAcc: "application/vnd.x+json"},
		{name: "204 is the zero value", path: "/empty", wantAcc: "application/json"},
		{name: "html is refused", path: "/html", kind: ErrInvalidResponse, wantAcc: "application/json"},
		{name: "no content type is refused", path: "/untyped", kind: ErrInvalidResponse, wantAcc: "application/json"},
		{name: "bad JSON", path: "/bad", kind: ErrInvalidResponse, wantAcc: "application/json"},
		{name: "JSON of another shape", path: "/wrong-type", kind: ErrInvalidResponse, wantAcc: "application/json"},
		{name: "null is not a user", path: "/null", kind: ErrInvalidResponse, wantAcc: "application/json"},
		{name: "null is not a user, streamed", path: "/null", opts: []RequestOption{Stream()}, kind: ErrInvalidResponse, wantAcc: "application/json"},
		{name: "data after the JSON", path: "/trailing", kind: ErrInvalidResponse, wantAcc: "application/json"},
		{name: "data after the JSON, streamed", path: "/trailing", opts: []RequestOption{Stream()}, kind: ErrInvalidResponse, wantAcc: "application/json"},
		{name: "404", path: "/missing", status: 404, wantAcc: "application/json"},
		{name: "404 streamed", path: "/missing", opts: []RequestOption{Stream()}, status: 404, wantAcc: "application/json"},
		{name: "request fails", path: "//elsewhere/x", kind: ErrInvalidURL, noResp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, resp, err := GetJSON[user](context.Background(), s, tt.path, tt.opts...)
			assert.Equal(t, tt.want, got)
			if tt.noResp {
				assert.Nil(t, resp)
			} else {
				require.NotNil(t, resp)
				assert.Equal(t, tt.wantAcc, resp.Header.Get("X-Got-Accept"))
			}
			switch {
			case tt.status != 0:
				var he *HTTPError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, tt.status, he.StatusCode)
				assert.JSONEq(t, `{"error":"no such user"}`, string(he.Body))
			case tt.kind != nil:
				assert.ErrorIs(t, err, tt.kind)
				var re *RequestError
				assert.ErrorAs(t, err, &re)
			default:
				assert.NoError(t, err)
			}
		})
	}
}

func TestPostJSON(t *testing.T) {
	t.Parallel()
	base := setupJSONServer(t)
	s := newTestSession(t, WithBaseURL(base))
	got, resp, err := PostJSON[user](context.Background(), s, "/echo", user{Name: "grace"})
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, user{42, "grace"}, got)

	_, _, err = PostJSON[user](context.Background(), s, "/echo", func() {})
	assert.ErrorIs(t, err, ErrInvalidOption, "an unencodable body")
}

func TestRequestJSONSessionAccept(t *testing.T) {
	t.Parallel()
	base := setupJSONServer(t)
	s := newTestSession(t, WithBaseURL(base), WithHeader("Accept", "application/vnd.github+json"))
	_, resp, err := RequestJSON[user](context.Background(), s, http.MethodGet, "/user")
	require.NoError(t, err)
	assert.Equal(t, "application/vnd.github+json", resp.Header.Get("X-Got-Accept"))

	_, _, err = GetJSON[user](context.Background(), nil, "/user")
	assert.ErrorIs(t, err, ErrInvalidOption)
}

// A JSON null is a nil value for the types that have one, and an error for
// the others, whose zero value would look like an answer.
func TestRequestJSONNull(t *testing.T) {
	t.Parallel()
	base := setupJSONServer(t)
	s := newTestSession(t, WithBaseURL(base))
	ctx := context.Background()
	for _, stream := range []bool{false, true} {
		var opts []RequestOption
		if stream {
			opts = append(opts, Stream())
		}
		p, _, err := GetJSON[*user](ctx, s, "/null", opts...)
		assert.NoError(t, err)
		assert.Nil(t, p)
		m, _, err := GetJSON[map[string]any](ctx, s, "/null", opts...)
		assert.NoError(t, err)
		assert.Nil(t, m)
		l, _, err := GetJSON[[]user](ctx, s, "/null", opts...)
		assert.NoError(t, err)
		assert.Nil(t, l)
		a, _, err := GetJSON[any](ctx, s, "/null", opts...)
		assert.NoError(t, err)
		assert.Nil(t, a)
		n, _, err := GetJSON[nullable](ctx, s, "/null", opts...)
		assert.NoError(t, err, "a type that decodes null itself")
		assert.True(t, n.null)
		_, _, err = GetJSON[int](ctx, s, "/null", opts...)
		assert.ErrorIs(t, err, ErrInvalidResponse)
		_, _, err = GetJSON[string](ctx, s, "/null", opts...)
		assert.ErrorIs(t, err, ErrInvalidResponse)
	}
}

// nullable decodes a JSON null itself.
type nullable struct{ null bool }

func (n *nullable) UnmarshalJSON(b []byte) error {
	n.null = string(b) == "null"
	return nil
}
