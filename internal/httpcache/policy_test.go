package httpcache

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		want  Directives
	}{
		{"none", nil, nil},
		{"simple", []string{"max-age=60, public"}, Directives{"max-age": "60", "public": ""}},
		{"case and spaces", []string{" Max-Age = 5 ,NO-CACHE"}, Directives{"max-age": "5", "no-cache": ""}},
		{"quoted with comma", []string{`no-cache="a, b", max-age="7"`}, Directives{"no-cache": "a, b", "max-age": "7"}},
		{"two lines", []string{"max-age=1", "immutable"}, Directives{"max-age": "1", "immutable": ""}},
		{"conflicting duplicate", []string{"max-age=1, max-age=2"}, Directives{"max-age": dupDirective}},
		{"same duplicate", []string{"max-age=1", "max-age=1"}, Directives{"max-age": "1"}},
		{"empty parts", []string{",,max-age=3,"}, Directives{"max-age": "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("Cache-Control", l)
			}
			assert.Equal(t, tt.want, ParseDirectives(h))
		})
	}
}

func TestDirectiveSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value     string
		want      time.Duration
		ok, valid bool
	}{
		{"60", time.Minute, true, true},
		{"0", 0, true, true},
		{"", 0, true, false},
		{"-1", 0, true, false},
		{"1.5", 0, true, false},
		{"abc", 0, true, false},
		{"99999999999999999999", (1<<31 - 1) * time.Second, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			v, ok, valid := Directives{"max-age": tt.value}.Seconds("max-age")
			assert.Equal(t, tt.want, v)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.valid, valid)
		})
	}
	_, ok, _ := Directives{}.Seconds("max-age")
	assert.False(t, ok)
}

// t0 is the time the policy tests' responses arrive.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func httpDate(d time.Duration) string { return t0.Add(d).Format(http.TimeFormat) }

func meta(status int, kv ...string) *Stored {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	m := NewStored(status, h, t0, t0)
	return &m
}

func TestLifetime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		m         *Stored
		want      time.Duration
		heuristic bool
	}{
		{"max-age", meta(200, "Cache-Control", "max-age=60"), time.Minute, false},
		{"max-age wins over expires", meta(200, "Cache-Control", "max-age=60", "Expires", httpDate(time.Hour), "Date", httpDate(0)), time.Minute, false},
		{"s-maxage ignored", meta(200, "Cache-Control", "s-maxage=60"), 0, false},
		{"bad max-age is stale", meta(200, "Cache-Control", "max-age=x", "Expires", httpDate(time.Hour)), 0, false},
		{"duplicate max-age is stale", meta(200, "Cache-Control", "max-age=60, max-age=120"), 0, false},
		{"expires minus date", meta(200, "Expires", httpDate(time.Hour), "Date", httpDate(-time.Minute)), time.Hour + time.Minute, false},
		{"expires without date", meta(200, "Expires", httpDate(time.Hour)), time.Hour, false},
		{"expires in the past", meta(200, "Expires", httpDate(-time.Hour), "Date", httpDate(0)), 0, false},
		{"invalid expires", meta(200, "Expires", "0"), 0, false},
		{"two expires", meta(200, "Expires", httpDate(time.Hour), "Expires", httpDate(time.Hour)), 0, false},
		{"heuristic 10%", meta(200, "Last-Modified", httpDate(-100*time.Hour), "Date", httpDate(0)), 10 * time.Hour, true},
		{"heuristic 404", meta(404, "Last-Modified", httpDate(-10*time.Hour)), time.Hour, true},
		{"no heuristic for 302", meta(302, "Last-Modified", httpDate(-10*time.Hour)), 0, false},
		{"heuristic for 302 with public", meta(302, "Cache-Control", "public", "Last-Modified", httpDate(-10*time.Hour)), time.Hour, true},
		{"future last-modified", meta(200, "Last-Modified", httpDate(time.Hour)), 0, true},
		{"nothing", meta(200), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, h := tt.m.Lifetime()
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.heuristic, h)
		})
	}
}

func TestAge(t *testing.T) {
	t.Parallel()
	m := meta(200, "Date", httpDate(-10*time.Second))
	assert.Equal(t, 10*time.Second, m.Age(t0), "apparent age from Date")
	assert.Equal(t, 15*time.Second, m.Age(t0.Add(5*time.Second)), "plus resident time")

	m = meta(200, "Age", "30", "Date", httpDate(0))
	m.ReqTime = t0.Add(-2 * time.Second)
	assert.Equal(t, 32*time.Second, m.Age(t0), "Age plus the response delay")

	m = meta(200, "Age", "bogus", "Date", httpDate(time.Hour))
	assert.Equal(t, time.Duration(0), m.Age(t0), "a Date in the future and a bad Age count as 0")
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		req   []string // request Cache-Control or Pragma ("pragma:" prefix)
		m     *Stored
		after time.Duration
		want  Use
		sie   bool
	}{
		{"fresh", nil, meta(200, "Cache-Control", "max-age=60"), 30 * time.Second, UseFresh, false},
		{"stale", nil, meta(200, "Cache-Control", "max-age=60"), 61 * time.Second, UseValidate, false},
		{"exactly at lifetime is stale", nil, meta(200, "Cache-Control", "max-age=60"), 60 * time.Second, UseValidate, false},
		{"response no-cache", nil, meta(200, "Cache-Control", "max-age=60, no-cache"), 0, UseValidate, false},
		{"request no-cache", []string{"no-cache"}, meta(200, "Cache-Control", "max-age=60"), 0, UseValidate, false},
		{"pragma no-cache", []string{"pragma:no-cache"}, meta(200, "Cache-Control", "max-age=60"), 0, UseValidate, false},
		{"request max-age=0", []string{"max-age=0"}, meta(200, "Cache-Control", "max-age=60"), time.Second, UseValidate, false},
		{"request max-age met", []string{"max-age=10"}, meta(200, "Cache-Control", "max-age=60"), 5 * time.Second, UseFresh, false},
		{"min-fresh unmet", []string{"min-fresh=40"}, meta(200, "Cache-Control", "max-age=60"), 30 * time.Second, UseValidate, false},
		{"min-fresh met", []string{"min-fresh=20"}, meta(200, "Cache-Control", "max-age=60"), 30 * time.Second, UseFresh, false},
		{"max-stale any", []string{"max-stale"}, meta(200, "Cache-Control", "max-age=60"), time.Hour, UseStale, false},
		{"max-stale in bound", []string{"max-stale=30"}, meta(200, "Cache-Control", "max-age=60"), 80 * time.Second, UseStale, false},
		{"max-stale out of bound", []string{"max-stale=10"}, meta(200, "Cache-Control", "max-age=60"), 80 * time.Second, UseValidate, false},
		{"must-revalidate beats max-stale", []string{"max-stale"}, meta(200, "Cache-Control", "max-age=60, must-revalidate"), 80 * time.Second, UseValidate, false},
		{"immutable ignores reload", []string{"max-age=0"}, meta(200, "Cache-Control", "max-age=60, immutable"), 10 * time.Second, UseFresh, false},
		{"immutable stale", nil, meta(200, "Cache-Control", "max-age=60, immutable"), 70 * time.Second, UseValidate, false},
		{"immutable and request no-cache", []string{"no-cache"}, meta(200, "Cache-Control", "max-age=60, immutable"), 0, UseValidate, false},
		{"swr in window", nil, meta(200, "Cache-Control", "max-age=60, stale-while-revalidate=30"), 80 * time.Second, UseStaleSWR, false},
		{"swr past window", nil, meta(200, "Cache-Control", "max-age=60, stale-while-revalidate=30"), 100 * time.Second, UseValidate, false},
		{"stale-if-error in window", nil, meta(200, "Cache-Control", "max-age=60, stale-if-error=30"), 80 * time.Second, UseValidate, true},
		{"stale-if-error past window", nil, meta(200, "Cache-Control", "max-age=60, stale-if-error=30"), 100 * time.Second, UseValidate, false},
		{"request stale-if-error", []string{"stale-if-error=100"}, meta(200, "Cache-Control", "max-age=60"), 100 * time.Second, UseValidate, true},
		{"must-revalidate voids stale-if-error", nil, meta(200, "Cache-Control", "max-age=60, must-revalidate, stale-if-error=30"), 80 * time.Second, UseValidate, false},
		{"heuristic fresh", nil, meta(200, "Last-Modified", httpDate(-100*time.Hour)), time.Hour, UseFresh, false},
		{"vary star", nil, meta(200, "Cache-Control", "max-age=60", "Vary", "*"), 0, UseValidate, false},
		{"no freshness", nil, meta(200, "ETag", `"x"`), 0, UseValidate, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, r := range tt.req {
				if v, ok := cutPrefix(r, "pragma:"); ok {
					h.Add("Pragma", v)
				} else {
					h.Add("Cache-Control", r)
				}
			}
			d := Decide(h, tt.m, t0.Add(tt.after))
			assert.Equal(t, tt.want, d.Use)
			assert.Equal(t, tt.sie, d.StaleIfError)
			life, _ := tt.m.Lifetime()
			assert.Equal(t, life, d.Lifetime)
		})
	}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

func TestStorable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		req    http.Header
		status int
		resp   http.Header
		want   bool
	}{
		{"200 max-age", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=1"}}, true},
		{"200 bare (heuristic status)", "GET", nil, 200, http.Header{}, true},
		{"HEAD", "HEAD", nil, 200, http.Header{"Cache-Control": {"max-age=1"}}, true},
		{"POST", "POST", nil, 200, http.Header{"Cache-Control": {"max-age=1"}}, false},
		{"302 bare", "GET", nil, 302, http.Header{}, false},
		{"302 max-age", "GET", nil, 302, http.Header{"Cache-Control": {"max-age=1"}}, true},
		{"500 expires", "GET", nil, 500, http.Header{"Expires": {httpDate(time.Hour)}}, true},
		{"206", "GET", nil, 206, http.Header{"Cache-Control": {"max-age=1"}}, false},
		{"304", "GET", nil, 304, http.Header{"Cache-Control": {"max-age=1"}}, false},
		{"response no-store", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=1, no-store"}}, false},
		{"request no-store", "GET", http.Header{"Cache-Control": {"no-store"}}, 200, http.Header{"Cache-Control": {"max-age=1"}}, false},
		{"range request", "GET", http.Header{"Range": {"bytes=0-1"}}, 200, http.Header{"Cache-Control": {"max-age=1"}}, false},
		{"vary star", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=1"}, "Vary": {"*"}}, false},
		{"private is fine here", "GET", nil, 200, http.Header{"Cache-Control": {"private, max-age=1"}}, true},
		{"authorization is fine here", "GET", http.Header{"Authorization": {"x"}}, 200, http.Header{"Cache-Control": {"max-age=1"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			if req == nil {
				req = http.Header{}
			}
			assert.Equal(t, tt.want, Storable(tt.method, req, tt.status, tt.resp))
		})
	}
}

func TestVary(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"Accept", "Accept-Language"}, VaryNames(http.Header{"Vary": {"accept-language, Accept", "accept"}}))
	assert.Equal(t, []string{"*", "Accept"}, VaryNames(http.Header{"Vary": {"Accept, *"}}))
	assert.Nil(t, VaryNames(http.Header{}))

	names := []string{"Accept", "X-Foo"}
	a := VaryKey(names, http.Header{"Accept": {"text/html, application/json"}})
	b := VaryKey(names, http.Header{"Accept": {"text/html,application/json"}})
	c := VaryKey(names, http.Header{"Accept": {"text/html"}})
	d := VaryKey(names, http.Header{"Accept": {"text/html, application/json"}, "X-Foo": {""}})
	assert.Equal(t, a, b, "whitespace around commas does not make a new variant")
	assert.NotEqual(t, a, c)
	assert.Equal(t, a, d, "an empty field matches an absent one")
}

func TestInvalidated(t *testing.T) {
	t.Parallel()
	target, _ := url.Parse("http://a.test/x/y")
	h := http.Header{"Location": {"/loc"}, "Content-Location": {"http://other.test/z"}}
	got := Invalidated("POST", target, 201, h, sameHost)
	require.Len(t, got, 2)
	assert.Equal(t, "http://a.test/x/y", got[0].String())
	assert.Equal(t, "http://a.test/loc", got[1].String())
	assert.Empty(t, Invalidated("GET", target, 200, h, sameHost), "safe methods invalidate nothing")
	assert.Empty(t, Invalidated("DELETE", target, 500, h, sameHost), "an error invalidates nothing")
	assert.Len(t, Invalidated("PUT", target, 302, http.Header{}, sameHost), 1)
}

func TestUpdated(t *testing.T) {
	t.Parallel()
	stored := http.Header{"Etag": {`"a"`}, "Content-Length": {"10"}, "X-Old": {"1"}, "Cache-Control": {"max-age=1"}}
	nm := http.Header{"Etag": {`"a"`}, "Content-Length": {"0"}, "Cache-Control": {"max-age=100"}, "X-New": {"2"},
		"Connection": {"X-Hop"}, "X-Hop": {"h"}, "Set-Cookie": {"a=b"}}
	require.True(t, NotModifiedMatches(stored, nm))
	before := stored.Clone()
	got, spare := Updated(stored, nm, false)
	assert.Nil(t, spare)
	assert.Equal(t, http.Header{"Etag": {`"a"`}, "Content-Length": {"10"}, "X-Old": {"1"}, "Cache-Control": {"max-age=100"}, "X-New": {"2"}}, got)
	withSpare, spare := Updated(stored, nm, true)
	assert.Equal(t, got, withSpare)
	require.Empty(t, spare)
	require.GreaterOrEqual(t, cap(spare), 5+2, "room for a copy of the values and two more")
	spare = spare[:cap(spare)]
	for i := range spare {
		spare[i] = "spare"
	}
	for k, vs := range withSpare {
		assert.Equal(t, got[k], vs, "the spare room is not the header's: %s", k)
	}
	assert.Equal(t, before, stored, "the stored fields are not modified")
	got["X-Old"][0] = "changed"
	got["Cache-Control"][0] = "changed"
	assert.Equal(t, before, stored, "nor shared")
	assert.Equal(t, []string{"max-age=100"}, nm["Cache-Control"])
	assert.False(t, NotModifiedMatches(http.Header{"Etag": {`"a"`}}, http.Header{"Etag": {`"b"`}}))
	assert.True(t, NotModifiedMatches(http.Header{"Etag": {`W/"a"`}}, http.Header{"Etag": {`"a"`}}))
}

func TestValidators(t *testing.T) {
	t.Parallel()
	inm, ims := Validators(http.Header{})
	assert.Empty(t, inm)
	assert.Empty(t, ims)
	inm, ims = Validators(http.Header{"Etag": {`"v1"`}, "Last-Modified": {httpDate(0)}})
	assert.Equal(t, `"v1"`, inm)
	assert.Equal(t, httpDate(0), ims)
	assert.False(t, HasConditional(http.Header{"Accept": {"*/*"}}))
	assert.True(t, HasConditional(http.Header{"If-None-Match": {inm}}))
}

func FuzzParseDirectives(f *testing.F) {
	f.Add(`max-age=60, no-cache="a, b", x="\"q\""`)
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseDirectives(http.Header{"Cache-Control": {s}})
		_, _, _ = d.Seconds("max-age")
	})
}

// sameHost is the origin check of the tests: scheme and host.
func sameHost(a, b *url.URL) bool { return a.Scheme == b.Scheme && a.Host == b.Host }

// FuzzDecide: any stored response and request, however malformed, get a
// verdict (no panic), a non-negative age, and a lifetime that is not
// negative.
func FuzzDecide(f *testing.F) {
	f.Add("max-age=60, stale-while-revalidate=30", "max-stale=10", httpDate(0), "30", httpDate(time.Hour), "", int64(90))
	f.Add("must-revalidate", "no-cache", "bogus", "-1", "0", httpDate(-time.Hour), int64(-5))
	f.Fuzz(func(t *testing.T, respCC, reqCC, date, age, expires, lastMod string, after int64) {
		h := http.Header{"Cache-Control": {respCC}, "Date": {date}, "Age": {age}, "Expires": {expires}, "Last-Modified": {lastMod}}
		m := NewStored(200, h, t0, t0)
		d := Decide(http.Header{"Cache-Control": {reqCC}}, &m, t0.Add(time.Duration(after)*time.Second))
		if d.Age < 0 {
			t.Fatalf("negative age %v", d.Age)
		}
		if life, _ := m.Lifetime(); life < 0 {
			t.Fatalf("negative lifetime %v", life)
		}
	})
}
