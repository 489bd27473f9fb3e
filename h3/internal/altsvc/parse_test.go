package altsvc

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		in    []string
		want  []Alternative
		clear bool
	}{
		{"same host", []string{`h3=":443"`}, []Alternative{{Protocol: "h3", Port: 443, MaxAge: DefaultMaxAge}}, false},
		{"max age and persist", []string{`h3=":8443"; ma=60; persist=1`}, []Alternative{{Protocol: "h3", Port: 8443, MaxAge: time.Minute, Persist: true}}, false},
		{"no spaces, quoted ma", []string{`h3=":1";ma="5"`}, []Alternative{{Protocol: "h3", Port: 1, MaxAge: 5 * time.Second}}, false},
		{"other host, case folded", []string{`h3="Alt.Example:443"`}, []Alternative{{Protocol: "h3", Host: "alt.example", Port: 443, MaxAge: DefaultMaxAge}}, false},
		{"ipv6", []string{`h3="[::1]:443"`}, []Alternative{{Protocol: "h3", Host: "::1", Port: 443, MaxAge: DefaultMaxAge}}, false},
		{"list and lines", []string{`h3-29=":443"; ma=10, h3=":443"`, `h2=":444"`}, []Alternative{
			{Protocol: "h3-29", Port: 443, MaxAge: 10 * time.Second},
			{Protocol: "h3", Port: 443, MaxAge: DefaultMaxAge},
			{Protocol: "h2", Port: 444, MaxAge: DefaultMaxAge},
		}, false},
		{"percent-encoded id", []string{`w%3Dx%3Ay=":80"`}, []Alternative{{Protocol: "w=x:y", Port: 80, MaxAge: DefaultMaxAge}}, false},
		{"unknown parameter", []string{`h3=":443"; foo=bar; ma=1`}, []Alternative{{Protocol: "h3", Port: 443, MaxAge: time.Second}}, false},
		{"escaped quote content", []string{`h3="\:443"`}, []Alternative{{Protocol: "h3", Port: 443, MaxAge: DefaultMaxAge}}, false},
		{"huge max age is capped", []string{`h3=":443"; ma=99999999999999999999999`}, []Alternative{{Protocol: "h3", Port: 443, MaxAge: maxMaxAge}}, false},
		{"empty elements", []string{`, h3=":443" ,`}, []Alternative{{Protocol: "h3", Port: 443, MaxAge: DefaultMaxAge}}, false},
		{"clear", []string{"clear"}, nil, true},
		{"clear with spaces", []string{" clear "}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alts, clear, err := Parse(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.clear, clear)
			assert.Equal(t, tc.want, alts)
		})
	}
}

func TestParseRefusesMalformedFields(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "  ", "h3", `h3=:443`, `h3=""`, `h3=":"`, `h3=":0"`, `h3=":65536"`, `h3=":44a"`, `h3=":443`,
		`h3="host"`, `h3=":443"; ma=-1`, `h3=":443"; ma=1.5`, `h3=":443"; ma`, `h3=":443"; ma=`,
		`h3=":443" junk`, `=":443"`, `h3=":443";;`, "Clear", "clear, h3=\":443\"", `h3="a b:443"`,
		"h3=\"\x01:443\"", `h3="[::1:443"`, `h3="[]:443"`, `%zz=":443"`,
	} {
		_, _, err := Parse([]string{in})
		assert.ErrorIs(t, err, ErrSyntax, "%q", in)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`h3=":443"; ma=3600, h3-29=":443"`, "clear", `h3="[::1]:8443"; persist=1`, `a="b:1";c="d\"e"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		alts, clear, err := Parse([]string{s})
		if err != nil {
			if alts != nil || clear {
				t.Fatalf("%q: results with an error", s)
			}
			return
		}
		if clear {
			if strings.TrimSpace(s) != "clear" || alts != nil {
				t.Fatalf("%q: clear with alternatives", s)
			}
			return
		}
		if len(alts) == 0 {
			t.Fatalf("%q: no error and no alternative", s)
		}
		for _, a := range alts {
			if a.Protocol == "" || a.Port < 1 || a.Port > 65535 || a.MaxAge < 0 || a.MaxAge > maxMaxAge {
				t.Fatalf("%q: bad alternative %+v", s, a)
			}
			if strings.ContainsAny(a.Host, " \t/?#@[]\"\x00") {
				t.Fatalf("%q: bad host %q", s, a.Host)
			}
		}
	})
}
