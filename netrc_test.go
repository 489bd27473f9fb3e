package reqivo

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseNetrc(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		machines []netrcEntry
		def      *netrcEntry
	}{
		{"one line", "machine a.example login u password p",
			[]netrcEntry{{machine: "a.example", host: "a.example", login: "u", password: "p"}}, nil},
		{"lines, tabs, account, order", "machine A.Example\n\tlogin u1\n\tpassword p1\n\taccount acct\nmachine b password p2 login u2\n",
			[]netrcEntry{{machine: "A.Example", host: "a.example", login: "u1", password: "p1"}, {machine: "b", host: "b", login: "u2", password: "p2"}}, nil},
		{"default", "machine a login u password p\ndefault login anon password guest",
			[]netrcEntry{{machine: "a", host: "a", login: "u", password: "p"}}, &netrcEntry{login: "anon", password: "guest"}},
		{"quoted", `machine a login "user name" password "p\"w\\d #x"`,
			[]netrcEntry{{machine: "a", host: "a", login: "user name", password: `p"w\d #x`}}, nil},
		{"comments", "# machine evil login x password y\nmachine a login u # trailing\npassword #notacomment",
			[]netrcEntry{{machine: "a", host: "a", login: "u", password: "#notacomment"}}, nil},
		{"macdef skipped", "macdef init\nmachine evil login x password y\ncd /\n\nmachine a login u password p",
			[]netrcEntry{{machine: "a", host: "a", login: "u", password: "p"}}, nil},
		{"macdef at end", "machine a login u password p\nmacdef m\nline", []netrcEntry{{machine: "a", host: "a", login: "u", password: "p"}}, nil},
		{"port, path or userinfo in machine match nothing", "machine a:8080 login u password p\nmachine u@b login u password p\nmachine c/x password p",
			[]netrcEntry{{machine: "a:8080", login: "u", password: "p"}, {machine: "u@b", login: "u", password: "p"}, {machine: "c/x", password: "p"}}, nil},
		{"IPv6", "machine ::1 login u password p", []netrcEntry{{machine: "::1", host: "::1", login: "u", password: "p"}}, nil},
		{"truncated", "machine a login", []netrcEntry{{machine: "a", host: "a"}}, nil},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := parseNetrc(tt.in)
			assert.Equal(t, tt.machines, n.machines)
			assert.Equal(t, tt.def, n.def)
		})
	}
}

func TestNetrcLookup(t *testing.T) {
	t.Parallel()
	n := parseNetrc("machine example.com login u password p\nmachine 127.0.0.1 login l password q\ndefault login d password dp")
	tests := []struct {
		rawURL string
		want   string // login, or "" for none
	}{
		{"http://example.com/", "u"},
		{"https://EXAMPLE.com:8443/x", "u"}, // the port is not compared, as curl
		{"http://example.com./", ""},        // a trailing dot is another name
		{"http://sub.example.com/", ""},
		{"http://example.com.evil.com/", ""},
		{"http://evilexample.com/", ""},
		{"http://examp1e.com/", ""},
		{"http://ex\u0430mple.com/", ""}, // Cyrillic a
		{"http://evil.com/@example.com", ""},
		{"http://evil.com/?h=example.com", ""},
		{"http://evil.com#@example.com", ""},
		{"http://example.com:@evil.com/", ""}, // CVE-2024-47081: the host is evil.com
		{"http://example.com@evil.com/", ""},
		{"http://127.0.0.1:1234/", "l"},
		{"http://127.0.0.2/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.rawURL, func(t *testing.T) {
			t.Parallel()
			u, err := parseAbsoluteURL(tt.rawURL)
			require.NoError(t, err)
			e, ok := n.lookup(originOf(u).host, false)
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, e.login)
		})
	}
	e, ok := n.lookup("anything", true)
	assert.True(t, ok)
	assert.Equal(t, "d", e.login, "the default entry when allowed")
}

// writeNetrc writes text to a file of mode perm in a temporary directory.
func writeNetrc(t *testing.T, text string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "netrc")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	require.NoError(t, os.Chmod(p, perm))
	return p
}

func TestNetrcFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes are Unix's")
	}
	t.Parallel()
	for _, perm := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		_, err := NewSession(WithNetrc(writeNetrc(t, "machine a login u password p", perm)))
		assert.ErrorIs(t, err, ErrInvalidOption, "mode %v", perm)
		if err != nil {
			assert.Contains(t, err.Error(), "chmod 600")
			assert.NotContains(t, err.Error(), "password p")
		}
	}
	for _, perm := range []os.FileMode{0o600, 0o400} {
		_, err := NewSession(WithNetrc(writeNetrc(t, "machine a login u password p", perm)))
		assert.NoError(t, err, "mode %v", perm)
	}
	_, err := NewSession(WithNetrc(filepath.Join(t.TempDir(), "missing")))
	assert.ErrorIs(t, err, ErrInvalidOption, "a path given must exist")
	_, err = NewSession(WithNetrc(t.TempDir()))
	assert.ErrorIs(t, err, ErrInvalidOption, "a directory")
}

func TestNetrcDefaultPath(t *testing.T) {
	// Not parallel: it sets HOME and NETRC.
	srv := setupServer(t, echoHandler)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("NETRC", "")
	s := newTestSession(t, WithNetrc(""))
	assert.Empty(t, getEcho(t, s, srv.URL).Header.Get("Authorization"), "no ~/.netrc: no credentials, no error")

	require.NoError(t, os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine 127.0.0.1 login h password hp"), 0o600))
	s = newTestSession(t, WithNetrc(""))
	assert.Equal(t, basicAuthHeader("h", "hp"), getEcho(t, s, srv.URL).Header.Get("Authorization"), "~/.netrc")

	t.Setenv("NETRC", writeNetrc(t, "machine 127.0.0.1 login e password ep", 0o600))
	s = newTestSession(t, WithNetrc(""))
	assert.Equal(t, basicAuthHeader("e", "ep"), getEcho(t, s, srv.URL).Header.Get("Authorization"), "$NETRC first")

	t.Setenv("NETRC", filepath.Join(home, "missing"))
	_, err := NewSession(WithNetrc(""))
	assert.ErrorIs(t, err, ErrInvalidOption, "$NETRC names a file that must exist")
}

func TestNetrcRequests(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, echoHandler)
	path := writeNetrc(t, "machine 127.0.0.1 login u password p\nmachine localhost login lu password lp", 0o600)
	want := basicAuthHeader("u", "p")
	ctx := context.Background()

	s := newTestSession(t, WithNetrc(path))
	assert.Equal(t, want, getEcho(t, s, srv.URL+"/x").Header.Get("Authorization"), "exact host")
	local := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	assert.Equal(t, basicAuthHeader("lu", "lp"), getEcho(t, s, local).Header.Get("Authorization"), "each host its entry")

	userinfo := strings.Replace(srv.URL, "http://", "http://x:y@", 1)
	assert.Equal(t, basicAuthHeader("x", "y"), getEcho(t, s, userinfo).Header.Get("Authorization"), "userinfo wins")
	userOnly := strings.Replace(srv.URL, "http://", "http://x@", 1)
	assert.Equal(t, basicAuthHeader("x", ""), getEcho(t, s, userOnly).Header.Get("Authorization"), "a user name in the URL wins too")
	assert.Equal(t, "Bearer r", getEcho(t, s, srv.URL, Header("Authorization", "Bearer r")).Header.Get("Authorization"))

	withAuth := newTestSession(t, WithNetrc(path), WithBasicAuth("s", "sp"))
	assert.Equal(t, basicAuthHeader("s", "sp"), getEcho(t, withAuth, srv.URL).Header.Get("Authorization"), "session auth wins")
	withTS := newTestSession(t, WithNetrc(path), WithTokenSource(sameSource("tk")))
	assert.Equal(t, "Bearer tk", getEcho(t, withTS, srv.URL).Header.Get("Authorization"), "a token source wins")

	// A base URL on another origin: session auth stays home, but a netrc
	// entry for the host asked for still answers, as its own scope.
	other := newTestSession(t, WithBaseURL("http://base.invalid"), WithNetrc(path), WithBasicAuth("s", "sp"))
	assert.Equal(t, want, getEcho(t, other, srv.URL).Header.Get("Authorization"))

	resp, err := s.Get(ctx, srv.URL+"/x")
	require.NoError(t, err)
	assert.Equal(t, want, resp.Request.Header.Get("Authorization"))
}

func TestNetrcRedirects(t *testing.T) {
	t.Parallel()
	b := setupServer(t, echoHandler) // same host, another port: another origin
	var aURL string
	a := setupServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, b.URL+"/landed", http.StatusFound)
		case "/here":
			http.Redirect(w, r, aURL+"/landed", http.StatusFound)
		default:
			echoHandler(w, r)
		}
	})
	aURL = a.URL
	s := newTestSession(t, WithNetrc(writeNetrc(t, "machine 127.0.0.1 login u password p", 0o600)))
	e := getEcho(t, s, a.URL+"/away")
	assert.Equal(t, "/landed", e.Path)
	assert.Empty(t, e.Header.Get("Authorization"), "dropped on a redirect to another origin, though its host matches")
	e = getEcho(t, s, a.URL+"/here")
	assert.Equal(t, basicAuthHeader("u", "p"), e.Header.Get("Authorization"), "kept on a same-origin redirect")
}

func TestNetrcShapesOnTheWire(t *testing.T) {
	t.Parallel()
	// The CVE-2024-47081 shapes, checked on what would be sent: these
	// hosts do not resolve, so a recording transport stands in for them.
	var mu sync.Mutex
	sent := map[string]string{}
	rt := &fuzzTransport{check: func(r *http.Request) {
		mu.Lock()
		sent[r.URL.Hostname()+" "+r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
	}}
	path := writeNetrc(t, "machine example.com login u password p\ndefault login d password dp", 0o600)
	s := newTestSession(t, WithTransport(rt), WithNetrc(path))
	for _, raw := range []string{
		"http://example.com:@evil.com/a", "http://evil.com/@example.com", "http://evil.com/?x=@example.com",
		"http://example.com.evil.com/b", "http://sub.example.com/c", "http://example.com/ok", "http://example.com:8080/port",
	} {
		_, err := s.Get(context.Background(), raw)
		require.NoError(t, err, raw)
	}
	mu.Lock()
	assert.Equal(t, map[string]string{
		"evil.com /a":             basicAuthHeader("example.com", ""), // the URL's own userinfo, no netrc
		"evil.com /@example.com":  "",
		"evil.com /":              "",
		"example.com.evil.com /b": "",
		"sub.example.com /c":      "",
		"example.com /ok":         basicAuthHeader("u", "p"),
		"example.com /port":       basicAuthHeader("u", "p"),
	}, sent, "no default entry without a base URL either")
	mu.Unlock()

	based := newTestSession(t, WithTransport(rt), WithNetrc(path), WithBaseURL("http://api.example.org"))
	_, err := based.Get(context.Background(), "/d")
	require.NoError(t, err)
	_, err = based.Get(context.Background(), "http://elsewhere.example.org/d")
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, basicAuthHeader("d", "dp"), sent["api.example.org /d"], "the default entry answers the base URL's host")
	assert.Empty(t, sent["elsewhere.example.org /d"], "and no other")
}

func FuzzNetrc(f *testing.F) {
	f.Add("machine a login u password p\ndefault login d password q", "host", "user", "pass")
	f.Add("macdef x\nmachine e login x\n\nmachine a password \"q\\\"\"", "a", "", "#p")
	f.Add("# c\nmachine", "a b", "\"", "\\")
	f.Fuzz(func(t *testing.T, text, _, _, _ string) {
		n := parseNetrc(text)
		for _, e := range n.machines {
			if e.machine == "" {
				t.Fatalf("machine without a name in %q", text)
			}
			if e.host != "" && e.host[0] != 0 && e.host != strings.ToLower(e.host) { // "\x00...": no ASCII form, never dialled
				t.Fatalf("host %q not lower case", e.host)
			}
		}
	})
}

func TestNetrcNotInLogs(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	logger, logs := newTestLogger(slog.LevelDebug)
	s := newTestSession(t, WithLogger(logger), WithNetrc(writeNetrc(t, "machine 127.0.0.1 login u password SECRET-netrc", 0o600)))
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.NotContains(t, resp.Err().Error(), "SECRET")
	assert.NotEmpty(t, logs.records(t))
	assert.NotContains(t, logs.String(), basicAuthHeader("u", "SECRET-netrc")[len("Basic "):])
}
