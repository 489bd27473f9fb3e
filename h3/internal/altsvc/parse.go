// Package altsvc parses the Alt-Svc header field (RFC 7838) and keeps what
// a client learned from it: which origins have an HTTP/3 endpoint, until
// when, and which are marked broken after a failed connection.
package altsvc

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxAge is an alternative's lifetime when it has no ma parameter
// (RFC 7838, section 3.1).
const DefaultMaxAge = 24 * time.Hour

// maxMaxAge caps ma: a larger value is taken as this one, so that the
// expiry time never overflows.
const maxMaxAge = 365 * 24 * time.Hour

// Alternative is one entry of an Alt-Svc field value.
type Alternative struct {
	Protocol string // the ALPN protocol ID, percent-decoded ("h3")
	Host     string // the alternative's host; "" means the origin's
	Port     int    // 1 to 65535
	MaxAge   time.Duration
	Persist  bool // persist=1: the entry survives a network change
}

// ErrSyntax is returned for a field value that does not parse.
var ErrSyntax = errors.New("altsvc: malformed Alt-Svc field")

// Parse parses the Alt-Svc field values of one response, in order (several
// field lines are one comma-separated list). It reports clear when the
// value is "clear": every alternative of the origin is to be forgotten. A
// value that does not parse gives ErrSyntax and nothing else: a client
// ignores the whole field then, rather than a guessed part of it.
func Parse(values []string) (alts []Alternative, clear bool, err error) {
	v := strings.Join(values, ",")
	if strings.TrimSpace(v) == "clear" {
		return nil, true, nil
	}
	p := parser{s: v}
	for {
		p.skipOWS()
		if p.done() {
			break
		}
		if p.peek() == ',' { // empty list elements are allowed (RFC 9110 5.6.1)
			p.i++
			continue
		}
		a, err := p.alternative()
		if err != nil {
			return nil, false, err
		}
		alts = append(alts, a)
		p.skipOWS()
		if p.done() {
			break
		}
		if p.peek() != ',' {
			return nil, false, ErrSyntax
		}
		p.i++
	}
	if len(alts) == 0 {
		return nil, false, ErrSyntax
	}
	return alts, false, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }
func (p *parser) peek() byte { return p.s[p.i] }

func (p *parser) skipOWS() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

// alternative parses protocol-id "=" alt-authority *( OWS ";" OWS parameter ).
func (p *parser) alternative() (Alternative, error) {
	a := Alternative{MaxAge: DefaultMaxAge}
	id := p.token()
	if id == "" || p.done() || p.peek() != '=' {
		return a, ErrSyntax
	}
	p.i++
	proto, err := url.PathUnescape(id)
	if err != nil || proto == "" {
		return a, ErrSyntax
	}
	a.Protocol = proto
	auth, ok := p.quoted()
	if !ok {
		return a, ErrSyntax
	}
	if a.Host, a.Port, ok = authority(auth); !ok {
		return a, ErrSyntax
	}
	for {
		p.skipOWS()
		if p.done() || p.peek() != ';' {
			return a, nil
		}
		p.i++
		p.skipOWS()
		name := strings.ToLower(p.token())
		if name == "" || p.done() || p.peek() != '=' {
			return a, ErrSyntax
		}
		p.i++
		var val string
		if !p.done() && p.peek() == '"' {
			if val, ok = p.quoted(); !ok {
				return a, ErrSyntax
			}
		} else if val = p.token(); val == "" {
			return a, ErrSyntax
		}
		switch name {
		case "ma":
			a.MaxAge, ok = maxAge(val)
			if !ok {
				return a, ErrSyntax
			}
		case "persist":
			a.Persist = val == "1"
		}
		// Unknown parameters are ignored (RFC 7838, section 3).
	}
}

// maxAge parses delta-seconds, capping large values.
func maxAge(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > uint64(maxMaxAge/time.Second) {
		return maxMaxAge, true // digits only: out of range means very large
	}
	return time.Duration(n) * time.Second, true
}

// authority splits uri-host ":" port; the host may be empty (the origin's)
// or a bracketed IPv6 literal.
func authority(s string) (host string, port int, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, false
	}
	host, ps := s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") || len(host) < 3 {
			return "", 0, false
		}
		host = host[1 : len(host)-1]
	}
	if strings.ContainsAny(host, " \t/?#@[]\"") {
		return "", 0, false
	}
	if len(ps) == 0 || len(ps) > 5 {
		return "", 0, false
	}
	for i := 0; i < len(ps); i++ {
		if ps[i] < '0' || ps[i] > '9' {
			return "", 0, false
		}
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, false
	}
	return strings.ToLower(host), port, true
}

// token reads a token (RFC 9110 5.6.2); "" when there is none.
func (p *parser) token() string {
	start := p.i
	for !p.done() && isTchar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// quoted reads a quoted-string and returns its unescaped content.
func (p *parser) quoted() (string, bool) {
	if p.done() || p.peek() != '"' {
		return "", false
	}
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		p.i++
		switch {
		case c == '"':
			return b.String(), true
		case c == '\\':
			if p.done() {
				return "", false
			}
			c = p.peek()
			p.i++
			if c < 0x20 && c != '\t' || c == 0x7f {
				return "", false
			}
			b.WriteByte(c)
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}
