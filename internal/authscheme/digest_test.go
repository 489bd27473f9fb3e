package authscheme

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rfc7616Challenges are the two challenges of RFC 7616, 3.9.1.
const rfc7616Challenges = `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, ` +
	`nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", ` +
	`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, ` +
	`nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`

// TestAuthorizationRFC7616 answers the RFC's example: the responses are
// the RFC's, for SHA-256 and for MD5.
func TestAuthorizationRFC7616(t *testing.T) {
	t.Parallel()
	cs := Parse([]string{rfc7616Challenges})
	require.Len(t, cs, 2)
	sp, ok := PickDigest(cs, false)
	require.True(t, ok)
	assert.Equal(t, "SHA-256", sp.Alg.Name, "the strongest is picked")
	assert.Equal(t, "auth", sp.Qop)
	a := Answer{User: "Mufasa", Pass: "Circle of Life", Method: "GET", URI: "/dir/index.html",
		Cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"}
	sp.NC = 1
	require.True(t, sp.NeedsCnonce())
	got := Parse([]string{Authorization(*sp, a)})
	require.Len(t, got, 1)
	p := got[0].Params
	assert.Equal(t, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", p["response"])
	assert.Equal(t, "00000001", p["nc"])
	assert.Equal(t, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", p["opaque"])

	md5Space := *sp
	md5Space.Alg, _ = ParseAlgorithm("MD5")
	p = Parse([]string{Authorization(md5Space, a)})[0].Params
	assert.Equal(t, "8ca523f5e9506fed4657c9700eebdbec", p["response"])
}

func TestPickDigest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		header    string
		hashBody  bool
		ok        bool
		alg, qop  string
		userhash  bool
		stale     bool
		needsNonc bool
	}{
		{"RFC 2069, no qop", `Digest realm="r", nonce="n"`, false, true, "", "", false, false, false},
		{"auth-int only, body hashable", `Digest nonce="n", qop="auth-int"`, true, true, "", "auth-int", false, false, true},
		{"auth-int only, body not hashable", `Digest nonce="n", qop="auth-int"`, false, false, "", "", false, false, false},
		{"unknown algorithm", `Digest nonce="n", algorithm=SHA-1`, false, false, "", "", false, false, false},
		{"no nonce", `Digest realm="r"`, false, false, "", "", false, false, false},
		{"sess without qop needs a cnonce", `Digest nonce="n", algorithm=SHA-512-256-sess, userhash=true, stale=TRUE`, false, true, "SHA-512-256-sess", "", true, true, true},
		{"not Digest", `Basic realm="r"`, false, false, "", "", false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := Parse([]string{tt.header})
			sp, ok := PickDigest(cs, tt.hashBody)
			assert.Equal(t, tt.stale, IsStale(cs))
			require.Equal(t, tt.ok, ok)
			if !ok {
				return
			}
			assert.Equal(t, tt.alg, sp.Alg.Name)
			assert.Equal(t, tt.qop, sp.Qop)
			assert.Equal(t, tt.userhash, sp.Userhash)
			assert.Equal(t, tt.needsNonc, sp.NeedsCnonce())
		})
	}
}

// FuzzDigest: whatever a server's challenge holds, the answer is one
// Digest challenge whose params parse back to what was sent.
func FuzzDigest(f *testing.F) {
	f.Add(rfc7616Challenges, "Mufasa", "/dir/index.html?a=b", "cn")
	f.Add(`Digest realm="a\"b", nonce="n\\", qop=auth-int, userhash=true, algorithm=MD5-sess`, `us"er`, "/", "")
	f.Fuzz(func(t *testing.T, header, user, uri, cnonce string) {
		sp, ok := PickDigest(Parse([]string{header}), true)
		if !ok {
			return
		}
		sp.NC = 7
		a := Answer{User: user, Pass: "p", Method: "POST", URI: uri, Cnonce: cnonce, BodyHash: sp.Alg.Sum("")}
		got := Parse([]string{Authorization(*sp, a)})
		if len(got) != 1 || !strings.EqualFold(got[0].Scheme, "Digest") {
			t.Fatalf("answer to %q parses as %+v", header, got)
		}
		p := got[0].Params
		if p["realm"] != sp.Realm || p["nonce"] != sp.Nonce || p["uri"] != uri {
			t.Fatalf("round trip: %+v for %+v", p, sp)
		}
		if !sp.Userhash && p["username"] != user {
			t.Fatalf("username %q, want %q", p["username"], user)
		}
	})
}
