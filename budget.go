// Retry budgets: how many retries and hedges a session may add to the
// requests it sends each host, over a sliding window (Finagle's
// RetryBudget), so that a host that fails is not sent MaxAttempts times
// its load the moment it can least take it.

package reqivo

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// RetryBudget caps the extra load retries and hedges add to each host
// (host and port, as in the URL), over a sliding window of 10 seconds: the
// window's retries and hedges may not outnumber Ratio of its requests plus
// a reserve of 10 x MinPerSecond. Requests are logical ones, each redirect
// hop counted once: retries and hedges draw on the budget and add nothing
// to it. This is Finagle's RetryBudget, and the per-client retry budget of
// Google's SRE book.
//
// The zero RetryBudget allows no retries and no hedges. A field of +Inf
// lifts the cap: every retry and hedge the policies ask for is sent.
type RetryBudget struct {
	// Ratio is the share of the window's requests that may be retried or
	// hedged: 0.2 lets retries add at most 20 % to the load on a host.
	Ratio float64
	// MinPerSecond is the rate of retries always allowed, however few the
	// requests: the window holds a reserve of 10 x MinPerSecond, so that a
	// host sent little is still retried.
	MinPerSecond float64
}

// The default retry budget: retries add at most 20 % to a host's load,
// plus 10 a second.
const (
	DefaultRetryBudgetRatio        = 0.2
	DefaultRetryBudgetMinPerSecond = 10
)

// WithRetryBudget sets the budget the session's retries (WithRetry, and
// Download's retries of a broken body) and hedges (WithHedging, Hedging)
// draw on, per host. A retry or hedge the budget refuses is not sent: the
// attempt's own response or error is the answer. Observers then get a
// Notice of kind NoticeRetryBudget and, for a retry, a Retry event with
// GivenUp; Stats.RetryBudgetRefused counts the refusals. Reconnections of
// Events, paced by the server, do not draw on it. The window runs on the
// session's clock (WithClock).
//
// If not set, a session has the default budget, 20 % of the requests plus
// 10 a second (DefaultRetryBudgetRatio, DefaultRetryBudgetMinPerSecond),
// as Finagle does. Without a budget, a host that fails or slows down is
// sent MaxAttempts times its load (and hedges add to it) just when it can
// least take it; with it, retries still mend the odd failure at any volume
// and a host that is down sees barely more than its usual load. A session
// that neither retries nor hedges pays nothing for it. To turn the cap
// off, give a field of +Inf.
//
// A negative or NaN field is an error.
func WithRetryBudget(b RetryBudget) Option {
	return func(c *config) error {
		if !(b.Ratio >= 0) || !(b.MinPerSecond >= 0) {
			return errorf(ErrInvalidOption, "negative or NaN value in RetryBudget")
		}
		c.budget = &b
		return nil
	}
}

// budgetSlots is how many slots of budgetSlot the window of 10 s is made
// of: a deposit or withdrawal leaves the window between 9 and 10 s later.
const (
	budgetSlots = 10
	budgetSlot  = time.Second
)

// budgets holds a session's retry budgets, one per host, made on first
// use. It is safe for concurrent use.
type budgets struct {
	reserve float64 // retries the window allows with no request
	ratio   float64
	always  bool // deposit for every request, not only hedged ones
	clock   *clock
	refused *atomic.Int64 // Stats.RetryBudgetRefused
	hosts   sync.Map      // host key -> *hostBudget
}

// hostBudget is one host's window: the requests and the retries of each
// slot, in a ring.
type hostBudget struct {
	mu    sync.Mutex // guards slots
	slots [budgetSlots]budgetCount
}

type budgetCount struct {
	slot              int64 // the slot's number: time since the epoch / budgetSlot
	requests, retries int64
}

// newBudgets returns the budgets of a session configured by c: nil when
// the cap is off.
func newBudgets(c *config, clk *clock, refused *atomic.Int64) *budgets {
	b := RetryBudget{Ratio: DefaultRetryBudgetRatio, MinPerSecond: DefaultRetryBudgetMinPerSecond}
	if c.budget != nil {
		b = *c.budget
	}
	if math.IsInf(b.Ratio, 1) || math.IsInf(b.MinPerSecond, 1) {
		return nil
	}
	return &budgets{
		reserve: b.MinPerSecond * float64(budgetSlots*budgetSlot/time.Second),
		ratio:   b.Ratio,
		always:  c.retry != nil || c.hedge != nil || c.budget != nil,
		clock:   clk,
		refused: refused,
	}
}

func (bs *budgets) host(key string) *hostBudget {
	if hb, ok := bs.hosts.Load(key); ok {
		return hb.(*hostBudget)
	}
	hb, _ := bs.hosts.LoadOrStore(key, &hostBudget{})
	return hb.(*hostBudget)
}

// count returns the counts of the slot of now, reset if it held an older
// slot's. hb.mu is held.
func (hb *hostBudget) count(now time.Time) *budgetCount {
	slot := now.UnixNano() / int64(budgetSlot)
	i := slot % budgetSlots
	if i < 0 {
		i += budgetSlots
	}
	bc := &hb.slots[i]
	if bc.slot != slot {
		*bc = budgetCount{slot: slot}
	}
	return bc
}

// deposit counts a request to the host key.
func (bs *budgets) deposit(key string) {
	hb := bs.host(key)
	now := bs.clock.now()
	hb.mu.Lock()
	hb.count(now).requests++
	hb.mu.Unlock()
}

// withdraw takes one retry from the host key's budget, if the window
// has one left.
func (bs *budgets) withdraw(key string) bool {
	hb := bs.host(key)
	now := bs.clock.now()
	hb.mu.Lock()
	defer hb.mu.Unlock()
	cur := hb.count(now)
	var requests, retries int64
	for i := range hb.slots {
		if bc := &hb.slots[i]; bc.slot > cur.slot-budgetSlots && bc.slot <= cur.slot {
			requests += bc.requests
			retries += bc.retries
		}
	}
	// A hair of slack, so that 0.2 x 5 requests is one retry.
	if float64(retries+1) > bs.reserve+bs.ratio*float64(requests)+1e-9 {
		return false
	}
	cur.retries++
	return true
}

// deposit counts the first attempt of the hop req in its host's budget.
// A Download's request after a broken body is its retry: it adds nothing.
func (c *call) deposit(req *http.Request) {
	bs := c.s.budgets
	if bs == nil || !bs.always && c.rc.hedge == nil || c.rc.prior > 0 {
		return
	}
	bs.deposit(hostKey(req.URL))
}

// spend takes a retry of attempt n of req, which got resp or err, from
// its host's budget. A refusal is reported: a Retry event with GivenUp
// and a Notice, or for a hedge (hedge true) the Notice only.
func (c *call) spend(req *http.Request, n int, resp *http.Response, err error, hedge bool) bool {
	bs := c.s.budgets
	if bs == nil {
		return true
	}
	key := hostKey(req.URL)
	if bs.withdraw(key) {
		return true
	}
	bs.refused.Add(1)
	if c.obs != nil {
		why := "the retry budget of " + key + " is spent"
		if !hedge {
			ri := c.retryInfo(req, n, resp, err)
			ri.GivenUp, ri.Reason = true, why
			c.obs.retry(c.ctx, ri)
		} else {
			why = "not hedging: " + why
		}
		c.notify(req, Notice{Kind: NoticeRetryBudget, Detail: why})
	}
	return false
}

// spendOutside is spend for a retry the session makes outside a call (a
// Download resuming a body that broke): try n of req failed with err.
func (s *Session) spendOutside(req *http.Request, n int, err error) bool {
	bs := s.budgets
	if bs == nil {
		return true
	}
	key := hostKey(req.URL)
	if bs.withdraw(key) {
		return true
	}
	bs.refused.Add(1)
	if len(s.cfg.observers) > 0 {
		o := observation{obs: s.cfg.observers}
		ri := RetryInfo{AttemptInfo: AttemptInfo{RequestInfo: requestInfo(req.Method, req.URL), Attempt: n}, Err: err,
			GivenUp: true, Reason: "the retry budget of " + key + " is spent"}
		o.retry(req.Context(), ri)
		o.notice(req.Context(), req, Notice{Kind: NoticeRetryBudget, Detail: ri.Reason})
	}
	return false
}
