package altsvc

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Broken backoff, as browsers do it: an origin whose alternative failed is
// not tried again for BrokenBase, doubled at each failure in a row, up to
// BrokenMax.
const (
	BrokenBase = 5 * time.Minute
	BrokenMax  = 48 * time.Hour
)

// maxOrigins caps the origins a Cache remembers.
const maxOrigins = 4096

// Cache keeps, per origin (its "host:port"), the HTTP/3 endpoint it
// advertised and whether that endpoint is marked broken. Every method
// takes the current time, so tests drive it with a fake clock. It is safe
// for concurrent use by multiple goroutines.
type Cache struct {
	// Protocol is the ALPN ID the cache learns ("h3"); others are ignored.
	Protocol string

	mu      sync.Mutex // guards origins
	origins map[string]*origin
}

// origin is what a Cache knows of one origin.
type origin struct {
	port     int       // the alternative's port on the origin's host; 0: none
	expires  time.Time // when the alternative's max age ends
	until    time.Time // broken until then
	failures int       // failures in a row, for the backoff
}

// NewCache returns an empty cache learning protocol.
func NewCache(protocol string) *Cache {
	return &Cache{Protocol: protocol, origins: make(map[string]*origin)}
}

// Learn records the Alt-Svc field values of a response from the origin
// host:port. A new field replaces what was known; "clear" forgets it. Only
// alternatives on the origin's own host are kept (a port of its own, or
// the same one): another host would be another name to resolve and trust,
// for no gain a client can see. A field that does not parse is ignored.
func (c *Cache) Learn(host string, port int, values []string, now time.Time) {
	if len(values) == 0 {
		return
	}
	alts, clear, err := Parse(values)
	if err != nil {
		return
	}
	key := Key(host, port)
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.origins[key]
	if clear {
		if o != nil {
			o.port = 0
			c.forgetLocked(key, o)
		}
		return
	}
	for _, a := range alts {
		if a.Protocol != c.Protocol || a.Host != "" && a.Host != host {
			continue
		}
		if o == nil {
			o = c.addLocked(key, now)
		}
		o.port, o.expires = a.Port, now.Add(a.MaxAge)
		return
	}
	// Nothing usable: the new field replaces the old entry.
	if o != nil {
		o.port = 0
		c.forgetLocked(key, o)
	}
}

// Lookup returns the HTTP/3 port of the origin host:port, when it
// advertised one that has not expired and is not marked broken.
func (c *Cache) Lookup(host string, port int, now time.Time) (int, bool) {
	key := Key(host, port)
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.origins[key]
	if o == nil || o.port == 0 {
		return 0, false
	}
	if !now.Before(o.expires) {
		o.port = 0
		c.forgetLocked(key, o)
		return 0, false
	}
	if now.Before(o.until) {
		return 0, false
	}
	return o.port, true
}

// Broken marks the origin's alternative broken after a failed connection
// and returns for how long: BrokenBase, doubled for each failure in a row.
// An origin already broken stays as it is: the requests that shared one
// failed connection attempt are one failure, not one each.
func (c *Cache) Broken(host string, port int, now time.Time) time.Duration {
	key := Key(host, port)
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.origins[key]
	if o == nil {
		o = c.addLocked(key, now)
	}
	if now.Before(o.until) {
		return o.until.Sub(now)
	}
	d := BrokenBase
	for i := 0; i < o.failures && d < BrokenMax; i++ {
		d *= 2
	}
	d = min(d, BrokenMax)
	o.failures++
	o.until = now.Add(d)
	return d
}

// Working records a connection that succeeded: the backoff starts over.
func (c *Cache) Working(host string, port int) {
	key := Key(host, port)
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.origins[key]; o != nil {
		o.failures, o.until = 0, time.Time{}
	}
}

// forgetLocked drops o when it holds nothing more (no alternative, no
// backoff to remember). c.mu must be held.
func (c *Cache) forgetLocked(key string, o *origin) {
	if o.port == 0 && o.failures == 0 {
		delete(c.origins, key)
	}
}

// addLocked adds an empty origin, first dropping expired or arbitrary
// entries when the cache is full. c.mu must be held.
func (c *Cache) addLocked(key string, now time.Time) *origin {
	if len(c.origins) >= maxOrigins {
		for k, o := range c.origins {
			if !now.Before(o.expires) && !now.Before(o.until) {
				delete(c.origins, k)
			}
		}
		for k := range c.origins {
			if len(c.origins) < maxOrigins {
				break
			}
			delete(c.origins, k)
		}
	}
	o := &origin{}
	c.origins[key] = o
	return o
}

// Len reports how many origins the cache remembers.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.origins)
}

// Key is the cache's key for an origin: its host, lower case, and port.
func Key(host string, port int) string {
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(port))
}
