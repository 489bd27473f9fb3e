// Redaction: what URLs and headers look like in errors and logs, with
// passwords, secret query values and fragments kept out.

package reqivo

import (
	"net/url"
	"strings"
)

// secretQueryWords name query keys whose values are redacted in errors and
// logs: a key containing any of them, in any case.
var secretQueryWords = []string{"token", "key", "secret", "passw", "pwd", "signature", "auth", "credential", "session"}

func isSecretQueryKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretQueryWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return k == "sig"
}

// redactURL returns u as a string with its password and the values of
// secret query keys replaced by "xxxxx", and no fragment.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	// A fragment is never sent on the wire, and may hold a token (the
	// OAuth implicit flow's #access_token=...): it is never shown.
	c.Fragment, c.RawFragment = "", ""
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), "xxxxx")
		}
	}
	if c.RawQuery != "" {
		c.RawQuery = redactQuery(c.RawQuery)
	}
	return c.String()
}

// RedactURL returns rawURL with its password and the values of query keys
// that look secret (token, key, secret, password, signature, auth ...)
// replaced by "xxxxx", and its fragment dropped, as in the URLs errors and
// logs carry. A URL that does
// not parse is returned as "<unparsable URL>", so that nothing leaks.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	return redactURL(u)
}

// redactQuery keeps the order and encoding of q, replacing secret values.
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	changed := false
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		if hasValue && isSecretQueryKey(dk) {
			parts[i] = k + "=xxxxx"
			changed = true
		}
	}
	if !changed {
		return q
	}
	return strings.Join(parts, "&")
}
