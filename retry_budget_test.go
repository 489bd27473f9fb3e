package reqivo

import (
	"context"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seamLog records what a session reports through the observer seam:
// attempts, retries and notices.
type seamLog struct {
	mu      sync.Mutex
	starts  []AttemptInfo
	ends    []AttemptDone
	retries []RetryInfo
	notices []Notice
}

func (l *seamLog) observer() Option {
	return WithObserver(Observer{
		AttemptStart: func(ctx context.Context, a AttemptInfo, _ http.Header) context.Context {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.starts = append(l.starts, a)
			return ctx
		},
		AttemptEnd: func(_ context.Context, a AttemptDone) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.ends = append(l.ends, a)
		},
		Retry: func(_ context.Context, r RetryInfo) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.retries = append(l.retries, r)
		},
		Notice: func(_ context.Context, n Notice) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.notices = append(l.notices, n)
		},
	})
}

func (l *seamLog) attempts() ([]AttemptInfo, []AttemptDone) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.starts), slices.Clone(l.ends)
}

func (l *seamLog) events() ([]RetryInfo, []Notice) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.retries), slices.Clone(l.notices)
}

// budgetSession is a session retrying every 503 once per request
// (MaxAttempts 2), on a frozen clock, with opts.
func budgetSession(t *testing.T, attempts int, opts ...Option) (*Session, *fakeClock) {
	t.Helper()
	s := newTestSession(t, append([]Option{WithRetry(RetryPolicy{MaxAttempts: attempts})}, opts...)...)
	c := newFrozenClock()
	c.install(s)
	return s, c
}

// budgetModel is how many of n requests' retries (each asking for
// perRequest in a row) a window allows: retries+1 <= reserve + ratio x
// requests, checked before each retry.
// It returns the retries allowed and the requests refused one.
func budgetModel(reserve, ratio float64, n, perRequest int) (retries, refused int) {
	for k := 1; k <= n; k++ {
		for range perRequest {
			if float64(retries+1) > reserve+ratio*float64(k)+1e-9 {
				refused++
				break
			}
			retries++
		}
	}
	return retries, refused
}

func TestWithRetryBudgetValidates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		b    RetryBudget
		ok   bool
	}{
		{name: "zero", b: RetryBudget{}, ok: true},
		{name: "Finagle's", b: RetryBudget{Ratio: 0.2, MinPerSecond: 10}, ok: true},
		{name: "infinite ratio", b: RetryBudget{Ratio: math.Inf(1)}, ok: true},
		{name: "negative ratio", b: RetryBudget{Ratio: -0.1}},
		{name: "negative rate", b: RetryBudget{MinPerSecond: -1}},
		{name: "NaN ratio", b: RetryBudget{Ratio: math.NaN()}},
		{name: "NaN rate", b: RetryBudget{MinPerSecond: math.NaN()}},
		{name: "minus infinity", b: RetryBudget{Ratio: math.Inf(-1)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewSession(WithRetryBudget(tt.b))
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrInvalidOption)
			}
		})
	}
}

// RetryBudget{} allows no retry: the attempt's own response is the answer,
// and the refusal is reported.
func TestRetryBudgetZeroRefuses(t *testing.T) {
	t.Parallel()
	srv, hits := flakyServer(t, nil, 503, 200)
	var ev seamLog
	s, _ := budgetSession(t, 3, WithRetryBudget(RetryBudget{}), ev.observer())
	resp, err := s.Get(context.Background(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode, "the attempt's own response")
	assert.Equal(t, 1, resp.Attempts())
	assert.Equal(t, int64(1), hits.Load(), "nothing more sent")
	assert.Equal(t, int64(1), s.Stats().RetryBudgetRefused)
	retries, notices := ev.events()
	require.Len(t, retries, 1)
	assert.True(t, retries[0].GivenUp)
	assert.Equal(t, 503, retries[0].StatusCode)
	assert.Contains(t, retries[0].Reason, "retry budget")
	require.Len(t, notices, 1)
	assert.Equal(t, NoticeRetryBudget, notices[0].Kind)
	assert.Equal(t, srv.URL, notices[0].URL)
}

// A refused retry of an error returns the error.
func TestRetryBudgetRefusesErrorRetry(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	s, _ := budgetSession(t, 3, WithRetryBudget(RetryBudget{}))
	_, err := s.Get(context.Background(), "http://"+addr+"/")
	assert.ErrorIs(t, err, ErrNetwork)
	assert.Equal(t, int64(1), s.Stats().Requests)
	assert.Equal(t, int64(1), s.Stats().RetryBudgetRefused)
}

// The window allows its reserve (10 x MinPerSecond) plus Ratio of its
// requests, counted per host.
func TestRetryBudgetReserveAndRatio(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name           string
		b              RetryBudget
		requests, each int
	}{
		{name: "reserve only", b: RetryBudget{MinPerSecond: 0.3}, requests: 6, each: 1},
		{name: "ratio only", b: RetryBudget{Ratio: 0.5}, requests: 8, each: 1},
		{name: "both, two retries a request", b: RetryBudget{Ratio: 0.25, MinPerSecond: 0.2}, requests: 12, each: 2},
		{name: "default", b: RetryBudget{Ratio: DefaultRetryBudgetRatio, MinPerSecond: DefaultRetryBudgetMinPerSecond}, requests: 70, each: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, hits := flakyServer(t, nil, 503)
			s, _ := budgetSession(t, tt.each+1, WithRetryBudget(tt.b))
			for range tt.requests {
				resp, err := s.Get(context.Background(), srv.URL)
				require.NoError(t, err)
				assert.Equal(t, 503, resp.StatusCode)
			}
			retries, refused := budgetModel(10*tt.b.MinPerSecond, tt.b.Ratio, tt.requests, tt.each)
			assert.Less(t, retries, tt.requests*tt.each, "the budget must bite")
			assert.Equal(t, int64(tt.requests+retries), hits.Load())
			assert.Equal(t, int64(refused), s.Stats().RetryBudgetRefused)
		})
	}
}

// Without WithRetryBudget, retries have the default budget; a field of
// +Inf lifts the cap.
func TestRetryBudgetDefaultAndUnlimited(t *testing.T) {
	t.Parallel()
	const requests = 60 // wanting 120 retries
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		srv, hits := flakyServer(t, nil, 503)
		s, _ := budgetSession(t, 3)
		for range requests {
			_, err := s.Get(context.Background(), srv.URL)
			require.NoError(t, err)
		}
		retries, _ := budgetModel(10*DefaultRetryBudgetMinPerSecond, DefaultRetryBudgetRatio, requests, 2)
		assert.Equal(t, int64(requests+retries), hits.Load())
		assert.Less(t, hits.Load(), int64(3*requests))
	})
	t.Run("unlimited", func(t *testing.T) {
		t.Parallel()
		srv, hits := flakyServer(t, nil, 503)
		s, _ := budgetSession(t, 3, WithRetryBudget(RetryBudget{Ratio: math.Inf(1)}))
		for range requests {
			_, err := s.Get(context.Background(), srv.URL)
			require.NoError(t, err)
		}
		assert.Equal(t, int64(3*requests), hits.Load())
		assert.Zero(t, s.Stats().RetryBudgetRefused)
	})
}

// Retries and requests leave the window 10 s later, on the session's
// clock.
func TestRetryBudgetWindowSlides(t *testing.T) {
	t.Parallel()
	srv, hits := flakyServer(t, nil, 503)
	s, clk := budgetSession(t, 2, WithRetryBudget(RetryBudget{MinPerSecond: 0.1})) // one retry per window
	get := func() {
		t.Helper()
		_, err := s.Get(context.Background(), srv.URL)
		require.NoError(t, err)
	}
	get()
	assert.Equal(t, int64(2), hits.Load(), "the reserve's retry")
	clk.advance(5 * time.Second)
	get()
	assert.Equal(t, int64(3), hits.Load(), "spent for 10 s")
	clk.advance(5 * time.Second)
	get()
	assert.Equal(t, int64(5), hits.Load(), "the first retry left the window")
}

// Each host has its own budget.
func TestRetryBudgetPerHost(t *testing.T) {
	t.Parallel()
	a, hitsA := flakyServer(t, nil, 503)
	b, hitsB := flakyServer(t, nil, 503)
	s, _ := budgetSession(t, 2, WithRetryBudget(RetryBudget{MinPerSecond: 0.1}))
	for _, u := range []string{a.URL, a.URL, b.URL} {
		_, err := s.Get(context.Background(), u)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), hitsA.Load(), "a: one retry, then refused")
	assert.Equal(t, int64(2), hitsB.Load(), "b: its own reserve")
}

// Download's retries of a body that broke draw on the budget, and its
// request after the break is not counted as a new one.
func TestRetryBudgetDownload(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		b        RetryBudget
		requests int
		refused  int64
	}{
		{name: "refused", b: RetryBudget{}, requests: 1, refused: 1},
		{name: "one allowed", b: RetryBudget{MinPerSecond: 0.1}, requests: 2, refused: 1},
		{name: "unlimited", b: RetryBudget{MinPerSecond: math.Inf(1)}, requests: 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFileServer(t, testPayload(9), `"v9"`)
			f.cutAfter(30_000, 30_000, 30_000)
			var ev seamLog
			s, _ := budgetSession(t, 3, WithRetryBudget(tt.b), ev.observer())
			_, err := s.Download(context.Background(), f.URL, filepath.Join(t.TempDir(), "file.bin"), Resume())
			assert.ErrorIs(t, err, ErrNetwork)
			assert.Len(t, f.requests(), tt.requests)
			assert.Equal(t, tt.refused, s.Stats().RetryBudgetRefused)
			_, notices := ev.events()
			assert.Len(t, notices, int(tt.refused))
		})
	}
}

// A budget model check: the reserve is spent first, then Ratio of the
// requests.
func TestBudgetWithdraw(t *testing.T) {
	t.Parallel()
	clk := newFrozenClock()
	c := clock{now: clk.Now}
	bs := newBudgets(&config{budget: &RetryBudget{Ratio: 0.2, MinPerSecond: 0.1}}, &c, new(atomic.Int64))
	assert.True(t, bs.withdraw("h:80"), "the reserve of one")
	assert.False(t, bs.withdraw("h:80"))
	for range 4 {
		bs.deposit("h:80")
	}
	assert.False(t, bs.withdraw("h:80"), "0.8 of a retry")
	bs.deposit("h:80")
	assert.True(t, bs.withdraw("h:80"), "0.2 x 5 is one retry")
	assert.False(t, bs.withdraw("h:80"))
	assert.True(t, bs.withdraw("other:80"), "another host's reserve")
	clk.advance(10 * time.Second)
	assert.True(t, bs.withdraw("h:80"), "the window moved on")
	assert.Nil(t, newBudgets(&config{budget: &RetryBudget{Ratio: math.Inf(1)}}, &c, new(atomic.Int64)), "no cap")
}

// A request sent with no retry wanted costs no budget.
func TestRetryBudgetNotSpentWithoutRetry(t *testing.T) {
	t.Parallel()
	srv := setupServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	s, _ := budgetSession(t, 3, WithRetryBudget(RetryBudget{}))
	for range 3 {
		_, err := s.Get(context.Background(), srv.URL)
		require.NoError(t, err)
	}
	assert.Zero(t, s.Stats().RetryBudgetRefused)
}
