package httpcache

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		k    Key
	}{
		{"plain", Key{Method: "GET", URI: "http://h/p?q=1"}},
		{"raw space and field-like bytes", Key{Method: "GET", URI: "http://h/p?a 3:GET vary=ab"}},
		{"host and cred", Key{Method: "HEAD", URI: "http://10.0.0.1/", Host: "a.example", Cred: "00ff"}},
		{"empty", Key{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.k.String()
			got, v, ok := ParseKey(s)
			require.True(t, ok)
			assert.Equal(t, tt.k, got)
			assert.Empty(t, v)
			vk := Variant(s, "beef")
			got, v, ok = ParseKey(vk)
			require.True(t, ok)
			assert.Equal(t, tt.k, got)
			assert.Equal(t, "beef", v)
			assert.Equal(t, s, Base(vk))
			assert.Equal(t, s, Base(s))
		})
	}
}

func TestParseKeyRefusesOthers(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "reqivo1:GET http://h/", "reqivo2:", "reqivo2:3:GET", "reqivo2:03:GET0:0:0:",
		"reqivo2:3:GET0:0:0:0:0:", "reqivo2:99:GET0:0:0:", "reqivo2:-1:0:0:0:"} {
		_, _, ok := ParseKey(s)
		assert.False(t, ok, "%q", s)
		assert.Equal(t, s, Base(s))
	}
}

func TestHashesAreKeyedAndSeparated(t *testing.T) {
	t.Parallel()
	a, b := []byte("secret-a-0123456789"), []byte("secret-b-0123456789")
	assert.NotEqual(t, CredHash(a, "x"), CredHash(b, "x"), "another secret, another hash")
	assert.NotEqual(t, CredHash(a, "x"), VariantHash(a, "x"), "a credential hash is never a variant hash")
	assert.Len(t, CredHash(a, "x"), 32)
}

// FuzzKey: no two different keys (base or variant) share a string, and
// every key reads back as itself.
func FuzzKey(f *testing.F) {
	f.Add("GET", "http://h/p?a", "", "", "", "GET", "http://h/p?a vary=00", "", "", "")
	f.Add("GET", "http://h/", "h2", "c", "v", "GET", "http://h/", "h", "2c", "v")
	f.Add("GET", "1:a", "", "", "", "GET1:a", "", "", "", "")
	f.Fuzz(func(t *testing.T, m1, u1, h1, c1, v1, m2, u2, h2, c2, v2 string) {
		k1, k2 := Key{m1, u1, h1, c1}, Key{m2, u2, h2, c2}
		s1, s2 := k1.String(), k2.String()
		if k1 != k2 && s1 == s2 {
			t.Fatalf("%+v and %+v share key %q", k1, k2, s1)
		}
		vk1, vk2 := Variant(s1, v1), Variant(s2, v2)
		if (k1 != k2 || v1 != v2) && vk1 == vk2 {
			t.Fatalf("variants %+v/%q and %+v/%q share key %q", k1, v1, k2, v2, vk1)
		}
		if vk1 == s2 || vk2 == s1 {
			t.Fatalf("a variant key is a base key: %q", vk1)
		}
		got, v, ok := ParseKey(vk1)
		if !ok || got != k1 || v != v1 {
			t.Fatalf("ParseKey(%q) = %+v, %q, %v", vk1, got, v, ok)
		}
		if Base(vk1) != s1 {
			t.Fatalf("Base(%q) = %q", vk1, Base(vk1))
		}
	})
}

// FuzzJoin: two different lists of parts never join alike.
func FuzzJoin(f *testing.F) {
	f.Add("a", "b", "", "ab", "", "")
	f.Add("1:a", "", "", "", "a", "")
	f.Fuzz(func(t *testing.T, a1, a2, a3, b1, b2, b3 string) {
		// Trailing empty parts are parts too: compare three against two.
		if Join(a1, a2, a3) == Join(b1, b2) {
			t.Fatalf("%q and %q join alike", []string{a1, a2, a3}, []string{b1, b2})
		}
		if [3]string{a1, a2, a3} != [3]string{b1, b2, b3} && Join(a1, a2, a3) == Join(b1, b2, b3) {
			t.Fatalf("%q and %q join alike", []string{a1, a2, a3}, []string{b1, b2, b3})
		}
	})
}

// FuzzURLKey: URLKey is the key of the URL's String, whatever the URL.
func FuzzURLKey(f *testing.F) {
	for _, s := range []string{"http://a.test/x?q=1", "https://[::1]:8443/a%20b?", "http://h/p:q", "http://h",
		"http://h.test/%zz", "http://h/a b", "http://ex%41mple.test/", "http://h/#frag", "http://u:p@h/"} {
		f.Add("GET", s, "", "")
	}
	f.Fuzz(func(t *testing.T, method, raw, host, cred string) {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() {
			return
		}
		u.User, u.Fragment, u.RawFragment = nil, "", ""
		want := Key{Method: method, URI: u.String(), Host: host, Cred: cred}.String()
		if got := URLKey(method, u, host, cred); got != want {
			t.Fatalf("URLKey(%q) = %q, want %q", raw, got, want)
		}
	})
}
