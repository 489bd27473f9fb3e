// URLs in text: the message of an error the session did not make (a
// store's, a transport's) may quote a URL, credentials and all.

package redact

import "strings"

// URLsIn returns s with every absolute URL in it replaced by with(url): a
// scheme (a letter, then letters, digits, "+", "-" or "."), "://", and
// what follows up to a space, a control byte, a quote or an angle
// bracket, as in `Get "https://u:p@host/?token=t": EOF`. s itself is
// returned, with nothing allocated, when it holds no URL.
func URLsIn(s string, with func(rawURL string) string) string {
	var b strings.Builder // used from the first URL on
	done := 0             // s[:done] is in b
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		j += i
		start := j
		for start > done && isSchemeByte(s[start-1]) {
			start--
		}
		for start < j && !isLetter(s[start]) {
			start++ // a scheme starts with a letter
		}
		end := j + len("://")
		for end < len(s) && !endsURL(s[end]) {
			end++
		}
		if start == j { // no scheme: not a URL, but one may follow
			i = j + len("://")
			continue
		}
		b.WriteString(s[done:start])
		b.WriteString(with(s[start:end]))
		done, i = end, end
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

func isSchemeByte(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// endsURL reports whether c cannot be part of a URL quoted in text.
func endsURL(c byte) bool {
	return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>'
}
