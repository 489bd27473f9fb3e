// Rate limits: a token bucket per host (golang.org/x/time/rate), or a
// shared RateStore, that every attempt on the wire waits on, slowed or
// paused by what servers say about their own limits.

package reqivo

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a client-side limit on the requests a session sends to each
// host (host and port, as in the URL): a token bucket that refills at Rate
// tokens a second and holds at most Burst. Every request on the wire (each
// retry and each redirect hop) takes one token before it is sent.
type RateLimit struct {
	// Rate is the number of requests a second allowed to each host; it
	// must be more than 0.
	Rate float64
	// Burst is the number of requests a host may get at once after a
	// quiet spell. If not set, 1 (requests are evenly spaced).
	Burst int
	// Store keeps the buckets, so that several processes share one limit
	// (see the module github.com/reqivo/reqivo/redisstore). If nil, the
	// buckets live in the session.
	Store RateStore
	// MaxPause is the longest a server's answer may hold the host's
	// bucket: a Retry-After or a spent quota's reset further off pauses it
	// for MaxPause only, and a slowed bucket never spaces two requests
	// further apart. A server that still means it says so again on the
	// next request. If not set, DefaultRateLimitMaxPause.
	MaxPause time.Duration
}

// DefaultRateLimitMaxPause is RateLimit.MaxPause if not set.
const DefaultRateLimitMaxPause = 5 * time.Minute

// RateStore keeps token buckets outside the session, for a limit shared by
// many processes. Its methods are called by many goroutines at once.
type RateStore interface {
	// Reserve takes one token for key (a host) at rate/burst and returns how
	// long the caller must wait before sending (0: now). An error makes the
	// session fall back to its local bucket (and report a Notice of kind
	// NoticeRateStoreError); a store outage never fails a request.
	Reserve(ctx context.Context, key string, rate float64, burst int) (time.Duration, error)
}

// WithRateLimit limits the requests sent to each host to l.Rate a second,
// with bursts of l.Burst. A request waits for its token, bounded by its
// context and deadline: one whose wait could not end before its deadline
// fails at once with ErrRateLimited, and nothing is sent.
//
// The bucket adapts to the server. A 429 or 503 response with Retry-After
// pauses the host's bucket until then (at most l.MaxPause), for every
// request of the session.
// When a response says the host's quota is nearly spent — in the IETF
// RateLimit (r, t) and RateLimit-Policy (w) fields of
// draft-ietf-httpapi-ratelimit-headers, the earlier RateLimit-Remaining and
// RateLimit-Reset, or the common X-RateLimit-Remaining and X-RateLimit-Reset
// (seconds, or a Unix time) — the bucket slows: with nothing left it pauses
// until the reset (at most l.MaxPause); with less left than l.Rate would
// spend before the reset, it runs at what is left spread over the time to
// the reset (never slower than one request a MaxPause), and goes back to
// l.Rate at the reset. Servers never make it faster than l.Rate. A request
// that would wait past its deadline fails at once with ErrRateLimited,
// its error saying how long the host is paused or the next token is off.
//
// Stats.RateLimitWait adds up the time requests waited; each wait is a
// Notice of kind NoticeRateLimitWait to the session's observers (and a
// Debug record of WithLogger). The waits run on the session's clock
// (WithClock).
//
// A Rate that is not more than 0 (or not finite), a negative Burst or
// MaxPause, is an error. If not set, requests are not limited and pay
// nothing for it.
func WithRateLimit(l RateLimit) Option {
	return func(c *config) error {
		if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
			return errorf(ErrInvalidOption, "RateLimit.Rate must be more than 0")
		}
		if l.Burst < 0 || l.MaxPause < 0 {
			return errorf(ErrInvalidOption, "negative RateLimit.Burst or MaxPause")
		}
		if l.Burst == 0 {
			l.Burst = 1
		}
		if l.MaxPause == 0 {
			l.MaxPause = DefaultRateLimitMaxPause
		}
		c.rateLimit = &l
		return nil
	}
}

// limiters holds a session's buckets, one per host, made on first use.
// It is safe for concurrent use.
type limiters struct {
	cfg   RateLimit
	clock *clock        // the session's: tests replace it
	wait  *atomic.Int64 // Stats.RateLimitWait, in nanoseconds
	hosts hostTable[*bucket]
}

// bucket is one host's token bucket, with what its responses said.
type bucket struct {
	mu sync.Mutex // guards the fields below and every use of lim
	// lim is only ever given times from at, so that its time never runs
	// backwards while it is paused.
	lim *rate.Limiter
	// last is the latest time given to lim.
	last time.Time
	// pausedUntil: no token is handed out before it (Retry-After, a spent
	// quota).
	pausedUntil time.Time
	// pauses counts the pauses set, so that a request that waited can see
	// whether one came while it slept.
	pauses uint64
	// slowUntil: lim runs below the configured rate until then; zero when
	// it runs at the configured rate.
	slowUntil time.Time
	// refill is how long lim takes to fill up from empty at the
	// configured rate.
	refill time.Duration
}

func newLimiters(cfg RateLimit, clk *clock, wait *atomic.Int64) *limiters {
	if cfg.MaxPause <= 0 {
		cfg.MaxPause = DefaultRateLimitMaxPause
	}
	return &limiters{cfg: cfg, clock: clk, wait: wait}
}

func (ls *limiters) bucket(key string) *bucket {
	now := ls.clock.now()
	return ls.hosts.get(key, now, func() *bucket {
		refill := time.Duration(float64(ls.cfg.Burst) / ls.cfg.Rate * float64(time.Second))
		if refill < 0 || refill > maxQuotaReset {
			refill = maxQuotaReset // a rate so low its float overflows
		}
		return &bucket{lim: rate.NewLimiter(rate.Limit(ls.cfg.Rate), ls.cfg.Burst), refill: refill, last: now}
	})
}

// evict reports whether b may be dropped from its table at now: it holds
// nothing a new bucket would not (it is full again, neither paused nor
// slowed) and has for hostIdle. A request that looked b up just before
// gets from it what a new bucket would give.
func (b *bucket) evict(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return now.Sub(latest(b.last.Add(b.refill), b.pausedUntil, b.slowUntil)) >= hostIdle
}

// at returns the time to give lim for a request at now: never before a
// pause ends, and never before the latest time lim was given. b.mu is held.
func (b *bucket) at(now time.Time) time.Time {
	t := now
	if b.pausedUntil.After(t) {
		t = b.pausedUntil
	}
	if b.last.After(t) {
		t = b.last
	}
	b.last = t
	return t
}

// restore puts lim back to the configured rate once a slow spell is over.
// b.mu is held.
func (b *bucket) restore(now time.Time, r float64) {
	if !b.slowUntil.IsZero() && !now.Before(b.slowUntil) {
		b.lim.SetLimitAt(b.at(now), rate.Limit(r))
		b.slowUntil = time.Time{}
	}
}

// reserve takes a token at now and returns how long to wait for it, its
// reservation (to give it back), and the pause count it was taken under.
func (b *bucket) reserve(now time.Time, r float64) (time.Duration, *rate.Reservation, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restore(now, r)
	res := b.lim.ReserveN(b.at(now), 1)
	return res.DelayFrom(now), res, b.pauses
}

// cancel gives back the token of res, taken at now; res nil is a store's,
// which cannot be given back.
func (b *bucket) cancel(res *rate.Reservation, now time.Time) {
	if res == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	res.CancelAt(b.at(now))
}

// hold reports the pause left at now and the current rate, for a store.
func (b *bucket) hold(now time.Time, r float64) (time.Duration, float64, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restore(now, r)
	return b.pausedUntil.Sub(now), float64(b.lim.Limit()), b.pauses
}

// pause stops the bucket until t.
func (b *bucket) pause(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.pausedUntil) {
		b.pausedUntil = t
		b.pauses++
	}
}

// slow runs the bucket at r (below the configured rate) until t.
func (b *bucket) slow(now time.Time, r float64, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lim.SetLimitAt(b.at(now), rate.Limit(r))
	b.slowUntil = t
}

// unslow puts the bucket back to the configured rate r at once.
func (b *bucket) unslow(now time.Time, r float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.slowUntil.IsZero() {
		b.lim.SetLimitAt(b.at(now), rate.Limit(r))
		b.slowUntil = time.Time{}
	}
}

// pausedFor is the pause left at now; 0 when there is none.
func (b *bucket) pausedFor(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.pausedUntil.Sub(now), 0)
}

// pausedSince reports whether a pause was set after the count n and still
// holds at now.
func (b *bucket) pausedSince(n uint64, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pauses != n && b.pausedUntil.After(now)
}

// take waits for a token for the host key, within ctx, and returns how
// long it waited and the last failure of the store, if any (the local
// bucket was used then). A wait that could not end before ctx's deadline
// fails at once with ErrRateLimited.
func (ls *limiters) take(ctx context.Context, key string) (waited time.Duration, storeErr error, err error) {
	b := ls.bucket(key)
	clk := ls.clock
	defer func() {
		if waited > 0 {
			ls.wait.Add(int64(waited))
		}
	}()
	// A pause set while this request slept (another request's 429) holds
	// it too: it then takes a token after the pause. Each round follows a
	// new pause, so the loop ends.
	for {
		now := clk.now()
		d, res, n, serr := ls.reserve(ctx, b, key, now)
		if serr != nil {
			storeErr = serr
		}
		if d > 0 {
			if dl, ok := ctx.Deadline(); ok && now.Add(d).After(dl) {
				b.cancel(res, now)
				return waited, storeErr, wrapKind(ErrRateLimited, tooLong(key, d, b.pausedFor(now)), context.DeadlineExceeded)
			}
			if err := clk.sleep(ctx, d); err != nil {
				b.cancel(res, now)
				waited += max(clk.now().Sub(now), 0)
				return waited, storeErr, err
			}
			waited += d
		}
		if !b.pausedSince(n, clk.now()) {
			return waited, storeErr, nil
		}
	}
}

var errNegativeWait = errors.New("reqivo: rate store returned a negative wait")

// tooLong says why a request for key that would wait d, the host paused
// for paused of it, is refused.
func tooLong(key string, d, paused time.Duration) string {
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	if paused > 0 {
		return key + " is paused by the server for " + r(paused) + " more; waiting " + r(d) + " would pass the deadline"
	}
	return "waiting " + r(d) + " for " + key + " would pass the deadline"
}

// reserve takes a token from the store, or from the local bucket when
// there is no store or it fails (the store's error is returned then). A
// store's token cannot be given back: its reservation is nil.
func (ls *limiters) reserve(ctx context.Context, b *bucket, key string, now time.Time) (time.Duration, *rate.Reservation, uint64, error) {
	if ls.cfg.Store == nil {
		d, res, n := b.reserve(now, ls.cfg.Rate)
		return d, res, n, nil
	}
	paused, r, n := b.hold(now, ls.cfg.Rate)
	d, err := ls.cfg.Store.Reserve(ctx, key, r, ls.cfg.Burst)
	if err != nil || d < 0 {
		switch {
		case ctx.Err() != nil:
			err = nil // the caller's doing, not the store's
		case err == nil:
			err = errNegativeWait
		}
		d, res, n := b.reserve(now, ls.cfg.Rate)
		return d, res, n, err
	}
	// The store knows nothing of pauses: wait for the later of the two.
	return max(d, paused), nil, n, nil
}

// observe adapts the host's bucket to what a response says: a 429 or 503
// with Retry-After pauses it; a quota nearly spent slows or pauses it.
func (ls *limiters) observe(key string, status int, h http.Header) {
	now := ls.clock.now()
	b := ls.bucket(key)
	longest := ls.cfg.MaxPause
	if status == 429 || status == 503 {
		if d, ok := parseRetryAfter(headerValue(h, "Retry-After"), now); ok && d > 0 {
			b.pause(now.Add(min(d, longest)))
		}
	}
	q, ok := parseQuota(h, now)
	if !ok {
		return
	}
	switch {
	case q.remaining <= 0:
		b.pause(now.Add(min(q.reset, longest)))
	case float64(q.remaining) < ls.cfg.Rate*q.reset.Seconds():
		// At least one request a MaxPause, however far off the reset.
		r := max(float64(q.remaining)/q.reset.Seconds(), 1/longest.Seconds())
		b.slow(now, min(r, ls.cfg.Rate), now.Add(q.reset))
	default:
		b.unslow(now, ls.cfg.Rate) // plenty left
	}
}

// headerValue is h.Get(k) for a canonical k, without canonicalising it
// again.
func headerValue(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// quota is what a response says of the host's limit: the requests left and
// the time until the window resets (more than 0).
type quota struct {
	remaining int64
	reset     time.Duration
}

// maxQuotaReset bounds a reset time read from a response.
const maxQuotaReset = 24 * time.Hour

// parseQuota reads the remaining quota and its reset from the IETF fields
// (RateLimit with RateLimit-Policy; or the dictionary form), the older
// RateLimit-Remaining/-Reset, or X-RateLimit-Remaining/-Reset. It is not ok
// when no field says both how much is left and when it resets.
func parseQuota(h http.Header, now time.Time) (quota, bool) {
	if v := headerValue(h, "Ratelimit"); v != "" {
		if q, ok := parseRateLimitField(v, headerValue(h, "Ratelimit-Policy")); ok {
			return q, true
		}
	}
	for _, f := range [...]struct{ remaining, reset string }{
		{"Ratelimit-Remaining", "Ratelimit-Reset"},
		{"X-Ratelimit-Remaining", "X-Ratelimit-Reset"},
	} {
		rem, ok := parseCount(headerValue(h, f.remaining))
		if !ok {
			continue
		}
		if reset, ok := parseReset(headerValue(h, f.reset), now); ok {
			return quota{remaining: rem, reset: reset}, true
		}
	}
	return quota{}, false
}

// parseRateLimitField reads the RateLimit field: a list of policies, each
// `"name";r=remaining;t=seconds` (draft 08 and later; t falls back to the
// window w of the policy of the same name in RateLimit-Policy), or the
// dictionary `limit=10, remaining=1, reset=7` of draft 07. Of several
// policies, the one with the least rate left wins.
func parseRateLimitField(v, policy string) (quota, bool) {
	windows := map[string]int64{}
	for _, item := range splitList(policy) {
		name, params := splitItem(item)
		if w, ok := parseCount(params["w"]); ok && w > 0 {
			windows[name] = w
		}
	}
	var best quota
	found := false
	consider := func(rem, reset int64) {
		if reset <= 0 || rem < 0 {
			return
		}
		q := quota{remaining: rem, reset: min(time.Duration(reset)*time.Second, maxQuotaReset)}
		if !found || float64(q.remaining)/q.reset.Seconds() < float64(best.remaining)/best.reset.Seconds() {
			best, found = q, true
		}
	}
	dict := map[string]string{}
	for _, item := range splitList(v) {
		name, params := splitItem(item)
		if r, ok := parseCount(params["r"]); ok {
			t, ok := parseCount(params["t"])
			if !ok {
				t, ok = windows[name]
			}
			if ok {
				consider(r, t)
			}
			continue
		}
		if k, val, ok := cutTrim(item, '='); ok {
			dict[k] = val
		}
	}
	if rem, ok := parseCount(dict["remaining"]); ok {
		if reset, ok := parseCount(dict["reset"]); ok {
			consider(rem, reset)
		}
	}
	return best, found
}

// splitList splits a structured-field list at the commas outside quoted
// strings.
func splitList(v string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	if start < len(v) {
		out = append(out, v[start:])
	}
	return out
}

// splitItem splits a list item into its bare item (a quoted string
// unquoted, or a token) and its parameters.
func splitItem(item string) (string, map[string]string) {
	params := map[string]string{}
	parts := splitParams(item)
	name := trimOWS(parts[0])
	if n, err := strconv.Unquote(name); err == nil {
		name = n
	}
	for _, p := range parts[1:] {
		if k, v, ok := cutTrim(p, '='); ok {
			params[k] = v
		}
	}
	return name, params
}

// splitParams splits an item at the semicolons outside quoted strings.
func splitParams(item string) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(item); i++ {
		switch c := item[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			out = append(out, item[start:i])
			start = i + 1
		}
	}
	return append(out, item[start:])
}

func cutTrim(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return trimOWS(s[:i]), trimOWS(s[i+1:]), true
		}
	}
	return "", "", false
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseCount reads a non-negative decimal integer.
func parseCount(v string) (int64, bool) {
	v = trimOWS(v)
	if v == "" || len(v) > 18 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// unixTimeFloor: a reset over this many seconds is a Unix time (2001-09-09),
// not a delay.
const unixTimeFloor = 1_000_000_000

// parseReset reads a reset as delay seconds or a Unix time in seconds; the
// result is more than 0 and at most maxQuotaReset.
func parseReset(v string, now time.Time) (time.Duration, bool) {
	n, ok := parseCount(v)
	if !ok {
		return 0, false
	}
	var d time.Duration
	if n >= unixTimeFloor {
		d = time.Unix(n, 0).Sub(now)
	} else {
		d = time.Duration(n) * time.Second
	}
	if d <= 0 {
		return 0, false
	}
	return min(d, maxQuotaReset), true
}
