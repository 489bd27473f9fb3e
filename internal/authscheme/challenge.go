// Package authscheme holds the pure parts of HTTP authentication: the
// WWW-Authenticate header (RFC 9110, 11.6.1) parsed into its challenges,
// the Bearer error a challenge carries (RFC 6750, 3), and the Digest
// computation (RFC 7616). Nothing here does I/O.
package authscheme

import "strings"

// Challenge is one auth challenge: a scheme, then either auth-params or a
// token68.
type Challenge struct {
	Scheme  string            // as sent; compare with strings.EqualFold
	Params  map[string]string // lower-case names, unquoted values; first of a repeated name wins
	Token68 string
}

// MaxChallenges bounds what Parse keeps of a hostile header.
const MaxChallenges = 16

// Parse parses the values of WWW-Authenticate headers (each may
// hold several challenges, comma-separated). What does not parse is skipped
// up to the next comma; it never fails.
func Parse(values []string) []Challenge {
	var out []Challenge
	for _, v := range values {
		p := challengeParser{s: v}
		out = p.parse(out)
		if len(out) >= MaxChallenges {
			return out[:MaxChallenges]
		}
	}
	return out
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) parse(out []Challenge) []Challenge {
	cur := -1 // index in out of the challenge params go to
	for len(out) < MaxChallenges {
		p.skip(" \t,")
		if p.i >= len(p.s) {
			break
		}
		t := p.token()
		if t == "" {
			p.skipElement()
			continue
		}
		p.skip(" \t")
		if p.peek() == '=' && cur >= 0 && !p.token68End() {
			p.i++ // '='
			p.skip(" \t")
			v, ok := p.value()
			if !ok {
				p.skipElement()
				continue
			}
			name := strings.ToLower(t)
			c := &out[cur]
			if c.Token68 == "" {
				if c.Params == nil {
					c.Params = map[string]string{}
				}
				if _, dup := c.Params[name]; !dup {
					c.Params[name] = v
				}
			}
			continue
		}
		if p.peek() == '=' {
			// "name=value" with no challenge before it, or "x==": garbage.
			p.skipElement()
			continue
		}
		// t is a scheme; a token68 may follow it.
		out = append(out, Challenge{Scheme: t})
		cur = len(out) - 1
		if p.i < len(p.s) && p.s[p.i] != ',' {
			save := p.i
			if t68 := p.token68(); t68 != "" {
				p.skip(" \t")
				if p.i >= len(p.s) || p.s[p.i] == ',' {
					out[cur].Token68 = t68
					continue
				}
			}
			p.i = save // an auth-param: the loop reads it
		}
	}
	return out
}

func (p *challengeParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *challengeParser) skip(set string) {
	for p.i < len(p.s) && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

// skipElement moves past the next comma outside a quoted string.
func (p *challengeParser) skipElement() {
	inQuote := false
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case inQuote && c == '\\':
			p.i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ',':
			p.i++
			return
		}
	}
}

// token68End reports whether the '=' at p.i ends a token68 ("abc==")
// rather than starting a value: only '=' up to a comma or the end.
func (p *challengeParser) token68End() bool {
	j := p.i
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	for j < len(p.s) && (p.s[j] == ' ' || p.s[j] == '\t') {
		j++
	}
	return j >= len(p.s) || p.s[j] == ','
}

func (p *challengeParser) token() string {
	start := p.i
	for p.i < len(p.s) && IsTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 reads 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func (p *challengeParser) token68() string {
	start := p.i
	for p.i < len(p.s) && isToken68Char(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return ""
	}
	for p.i < len(p.s) && p.s[p.i] == '=' {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted-string, unquoted.
func (p *challengeParser) value() (string, bool) {
	if p.peek() != '"' {
		t := p.token()
		return t, t != ""
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String(), true
		case '\\':
			if p.i < len(p.s) {
				b.WriteByte(p.s[p.i])
				p.i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", false // no closing quote
}

// IsTokenChar reports whether c may be in an RFC 9110 token.
func IsTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

// QuoteParam returns s as a quoted-string: '"' and '\' escaped.
func QuoteParam(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// BearerInvalidToken reports whether WWW-Authenticate values say the
// bearer token was refused (RFC 6750, 3.1: error="invalid_token").
func BearerInvalidToken(values []string) bool {
	code, _ := BearerError(values)
	return code == "invalid_token"
}

// BearerError returns the error code and error_description of the first
// Bearer challenge with an error (RFC 6750, 3), or "", "".
func BearerError(values []string) (code, description string) {
	for _, c := range Parse(values) {
		if strings.EqualFold(c.Scheme, "Bearer") && c.Params["error"] != "" {
			return c.Params["error"], c.Params["error_description"]
		}
	}
	return "", ""
}
