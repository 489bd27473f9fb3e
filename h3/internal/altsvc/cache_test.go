package altsvc

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestCacheLearnsAndExpires(t *testing.T) {
	t.Parallel()
	c := NewCache("h3")
	_, ok := c.Lookup("a.example", 443, t0)
	assert.False(t, ok)

	c.Learn("a.example", 443, []string{`h2=":444", h3=":8443"; ma=60`}, t0)
	p, ok := c.Lookup("A.example", 443, t0.Add(59*time.Second))
	assert.True(t, ok)
	assert.Equal(t, 8443, p)
	_, ok = c.Lookup("a.example", 444, t0)
	assert.False(t, ok, "another port is another origin")
	_, ok = c.Lookup("a.example", 443, t0.Add(60*time.Second))
	assert.False(t, ok, "the max age ended")
	assert.Zero(t, c.Len(), "an expired entry is forgotten")
}

func TestCacheNewFieldReplacesClearForgets(t *testing.T) {
	t.Parallel()
	c := NewCache("h3")
	c.Learn("a.example", 443, []string{`h3=":8443"`}, t0)
	c.Learn("a.example", 443, []string{`h3=":9443"`}, t0)
	p, _ := c.Lookup("a.example", 443, t0)
	assert.Equal(t, 9443, p)

	c.Learn("a.example", 443, []string{`h3=":9443" junk`}, t0)
	p, _ = c.Lookup("a.example", 443, t0)
	assert.Equal(t, 9443, p, "a malformed field is ignored")

	c.Learn("a.example", 443, []string{`h2=":443"`}, t0)
	_, ok := c.Lookup("a.example", 443, t0)
	assert.False(t, ok, "a field without h3 replaces the entry")

	c.Learn("a.example", 443, []string{`h3=":443"`}, t0)
	c.Learn("a.example", 443, []string{"clear"}, t0)
	_, ok = c.Lookup("a.example", 443, t0)
	assert.False(t, ok)
	assert.Zero(t, c.Len())
}

func TestCacheIgnoresOtherHosts(t *testing.T) {
	t.Parallel()
	c := NewCache("h3")
	c.Learn("a.example", 443, []string{`h3="b.example:443"`}, t0)
	_, ok := c.Lookup("a.example", 443, t0)
	assert.False(t, ok)
	c.Learn("a.example", 443, []string{`h3="b.example:443", h3="A.EXAMPLE:8443"`}, t0)
	p, ok := c.Lookup("a.example", 443, t0)
	assert.True(t, ok)
	assert.Equal(t, 8443, p)
}

func TestCacheBrokenBacksOff(t *testing.T) {
	t.Parallel()
	c := NewCache("h3")
	c.Learn("a.example", 443, []string{`h3=":443"; ma=31536000`}, t0)
	now := t0
	want := BrokenBase
	for i := range 12 {
		d := c.Broken("a.example", 443, now)
		assert.Equal(t, want, d, "failure %d", i+1)
		_, ok := c.Lookup("a.example", 443, now.Add(d-time.Second))
		assert.False(t, ok)
		now = now.Add(d)
		_, ok = c.Lookup("a.example", 443, now)
		assert.True(t, ok)
		want = min(want*2, BrokenMax)
	}
	assert.Equal(t, BrokenMax, c.Broken("a.example", 443, now))

	c.Working("a.example", 443)
	_, ok := c.Lookup("a.example", 443, now)
	assert.True(t, ok)
	assert.Equal(t, BrokenBase, c.Broken("a.example", 443, now), "a success starts the backoff over")
	assert.Equal(t, BrokenBase-time.Minute, c.Broken("a.example", 443, now.Add(time.Minute)),
		"a failure while broken (a request that shared the failed attempt) does not double the wait")
	assert.Equal(t, 2*BrokenBase, c.Broken("a.example", 443, now.Add(BrokenBase)))
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	c := NewCache("h3")
	for i := range maxOrigins + 100 {
		c.Learn("h"+strconv.Itoa(i)+".example", 443, []string{`h3=":443"`}, t0)
	}
	assert.LessOrEqual(t, c.Len(), maxOrigins)
}
