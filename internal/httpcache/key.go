// Keys: how a stored response is named in the store. Every field is
// written as its length, a colon and its bytes, so no two different keys
// share a string (a raw space or any other byte in a URI cannot name
// another URI's entry), and the hashes in a key are keyed with the
// store's secret (HMAC-SHA256), so whoever reads the keys cannot test
// guesses of what they hide.

package httpcache

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
)

// keyPrefix starts every key; it names the encoding, so keys of an older
// encoding are never read as this one's.
const keyPrefix = "reqivo2:"

// Key names the stored responses of one target.
type Key struct {
	Method string
	// URI is the target URI as sent, without its fragment and userinfo.
	URI string
	// Host is the Host header as sent when it is not the URI's authority;
	// "" otherwise.
	Host string
	// Cred is the credential hash of the request (see CredHash); "" for
	// a request whose credentials, if any, the key does not need to tell
	// apart.
	Cred string
}

// String encodes k: the prefix, then each field length-prefixed.
func (k Key) String() string {
	var b strings.Builder
	b.Grow(len(keyPrefix) + len(k.Method) + len(k.URI) + len(k.Host) + len(k.Cred) + 4*6)
	b.WriteString(keyPrefix)
	writeField(&b, k.Method)
	writeField(&b, k.URI)
	writeField(&b, k.Host)
	writeField(&b, k.Cred)
	return b.String()
}

// URLKey is Key{Method: method, URI: u.String(), Host: host, Cred:
// cred}.String() for u, an absolute URL without userinfo or fragment. For
// a plain u (no opaque part, a host of letters, digits and ".-_~:[]") the
// URI is written into the key as u.String would write it, with no string
// of its own.
func URLKey(method string, u *url.URL, host, cred string) string {
	if !plainURL(u) {
		return Key{Method: method, URI: u.String(), Host: host, Cred: cred}.String()
	}
	path := u.EscapedPath()
	slash := path != "" && path[0] != '/'
	query := u.ForceQuery || u.RawQuery != ""
	n := len(u.Scheme) + len("://") + len(u.Host) + len(path) // the URI's length
	if slash {
		n++
	}
	if query {
		n += 1 + len(u.RawQuery)
	}
	var b strings.Builder
	b.Grow(len(keyPrefix) + len(method) + n + len(host) + len(cred) + 4*6)
	b.WriteString(keyPrefix)
	writeField(&b, method)
	writeLength(&b, n)
	b.WriteString(u.Scheme)
	b.WriteString("://")
	b.WriteString(u.Host)
	if slash {
		b.WriteByte('/')
	}
	b.WriteString(path)
	if query {
		b.WriteByte('?')
		b.WriteString(u.RawQuery)
	}
	writeField(&b, host)
	writeField(&b, cred)
	return b.String()
}

// plainURL reports whether u is absolute with a host that u.String writes
// as it is, and nothing URLKey does not write.
func plainURL(u *url.URL) bool {
	if u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return false
	}
	for i := 0; i < len(u.Host); i++ {
		switch c := u.Host[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == '~', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// Variant returns the key of the variant of base (a Key's String) that
// the variant hash names (see VariantHash): base and one field more.
func Variant(base, hash string) string {
	var b strings.Builder
	b.Grow(len(base) + len(hash) + 6)
	b.WriteString(base)
	writeField(&b, hash)
	return b.String()
}

// ParseKey reads a key made by String or Variant; ok is false for any
// other string. variant is "" for a base key.
func ParseKey(s string) (k Key, variant string, ok bool) {
	k, variant, n := parseKey(s)
	return k, variant, n > 0
}

// Base returns the base key of a variant key, and any other key as it is.
func Base(key string) string {
	k, _, n := parseKey(key)
	if n != 5 {
		return key
	}
	return k.String()
}

// parseKey reads s as ParseKey does; n is its number of fields (4 for a
// base key, 5 for a variant), 0 when it is no key.
func parseKey(s string) (k Key, variant string, n int) {
	rest, ok := strings.CutPrefix(s, keyPrefix)
	if !ok {
		return Key{}, "", 0
	}
	var f [5]string
	for rest != "" && n < len(f) {
		f[n], rest, ok = readField(rest)
		if !ok {
			return Key{}, "", 0
		}
		n++
	}
	if rest != "" || n < 4 {
		return Key{}, "", 0
	}
	return Key{Method: f[0], URI: f[1], Host: f[2], Cred: f[3]}, f[4], n
}

func writeField(b *strings.Builder, s string) {
	writeLength(b, len(s))
	b.WriteString(s)
}

// writeLength writes the length prefix of a field of n bytes.
func writeLength(b *strings.Builder, n int) {
	var num [20]byte
	b.Write(strconv.AppendUint(num[:0], uint64(n), 10))
	b.WriteByte(':')
}

func readField(s string) (field, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i > 10 || (i > 1 && s[0] == '0') {
		return "", "", false
	}
	n, err := strconv.ParseUint(s[:i], 10, 32)
	if err != nil || n > uint64(len(s)-i-1) {
		return "", "", false
	}
	return s[i+1 : i+1+int(n)], s[i+1+int(n):], true
}

// Join encodes parts as one string from which they can be read back
// (each length-prefixed): what CredHash and VariantHash take, so that
// no two different lists of parts are hashed alike.
func Join(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		writeField(&b, p)
	}
	return b.String()
}

// CredHash is the hex HMAC-SHA256 under secret of material (made by
// Join), 128 bits kept: what a key shows of a request's credentials.
func CredHash(secret []byte, material string) string {
	return keyedHash(secret, "cred", material)
}

// VariantHash is the hex HMAC-SHA256 under secret of what selects a
// variant (the request's values of the Vary fields, see VaryKey, and the
// session's identity for a response kept to one session), 128 bits kept.
func VariantHash(secret []byte, material string) string {
	return keyedHash(secret, "vary", material)
}

// keyedHash separates the uses of the secret by a label, so a credential
// hash can never be passed off as a variant hash.
func keyedHash(secret []byte, label, material string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(label))
	mac.Write([]byte{0})
	mac.Write([]byte(material))
	var sum [sha256.Size]byte
	return hex.EncodeToString(mac.Sum(sum[:0])[:16])
}
