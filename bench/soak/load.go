// The soak's load: one session, every kind of request it sends, and the
// book-keeping that proves each returned, with a kind when it failed.

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reqivo/reqivo"
)

// Retry settings of the soak's session; checkKeys bounds the copies of a
// POST by them.
const (
	maxAttempts = 4
	hedgeMax    = 2
)

// kinds are the error kinds a request may end with; an error matching
// none of them is a problem.
var kinds = []error{
	reqivo.ErrCanceled, reqivo.ErrConnectTimeout, reqivo.ErrReadTimeout, reqivo.ErrTimeout,
	reqivo.ErrTLS, reqivo.ErrNetwork, reqivo.ErrInvalidResponse, reqivo.ErrBodyTooLarge,
	reqivo.ErrWebSocket, reqivo.ErrCircuitOpen, reqivo.ErrRateLimited, reqivo.ErrClosed,
}

type workload struct {
	name string
	run  func(l *load, ctx context.Context, w int) error
}

var workloads = []workload{
	{"get", (*load).get},
	{"post", (*load).post},
	{"stream", (*load).stream},
	{"events", (*load).events},
	{"jsonlines", (*load).jsonLines},
	{"websocket", (*load).webSocket},
	{"download", (*load).download},
	{"cached", (*load).cached},
}

type load struct {
	s       *reqivo.Session
	dir     string
	workers int

	seq     atomic.Int64
	mu      sync.Mutex
	ops     map[string]int            // workload -> calls that returned
	errs    map[string]map[string]int // workload -> kind -> count
	unkind  []string                  // errors with no kind
	wrong   []string                  // answers that were not what the server sent
	okPosts map[string]bool           // Idempotency-Keys the client saw succeed
	budget  atomic.Int64              // NoticeRetryBudget notices
}

func newLoad(proxy, dir string, workers int) *load {
	l := &load{dir: dir, workers: workers, ops: map[string]int{}, errs: map[string]map[string]int{}, okPosts: map[string]bool{}}
	s, err := reqivo.NewSession(
		reqivo.WithBaseURL("http://"+proxy),
		reqivo.WithTimeouts(reqivo.Timeouts{Connect: 2 * time.Second, Read: 2 * time.Second, Total: 20 * time.Second}),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: maxAttempts, MinWait: 20 * time.Millisecond, MaxWait: time.Second}),
		reqivo.WithCache(reqivo.NewMemoryCache(8<<20)),
		// The default retry budget (20 % + 10/s) is on with retries.
		reqivo.WithHedging(reqivo.Hedge{Delay: 100 * time.Millisecond, Max: hedgeMax}),
		reqivo.WithObserver(reqivo.Observer{
			Notice: func(_ context.Context, n reqivo.Notice) {
				if n.Kind == reqivo.NoticeRetryBudget {
					l.budget.Add(1)
				}
			},
		}),
	)
	if err != nil {
		panic(err) // the options are constants
	}
	l.s = s
	return l
}

func (l *load) close() { l.s.Close() }

// once runs every workload one time (the warm-up).
func (l *load) once(ctx context.Context) error {
	var errs []error
	for _, wl := range workloads {
		if err := wl.run(l, ctx, 0); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", wl.name, err))
		}
	}
	return errors.Join(errs...)
}

// drive runs the load for d and returns the peak sample seen.
func (l *load) drive(d time.Duration) sample {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for w := range l.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				wl := workloads[i%len(workloads)]
				// Each call gets its own bound, past the session's, so a
				// request that never returns shows as one.
				cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
				err := wl.run(l, cctx, w)
				ccancel()
				l.record(wl.name, err)
			}
		}()
	}
	peak := measure()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return peak
		case <-tick.C:
			s := measure()
			peak.goroutines = max(peak.goroutines, s.goroutines)
			peak.fds = max(peak.fds, s.fds)
			peak.heap = max(peak.heap, s.heap)
		}
	}
}

func (l *load) record(name string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops[name]++
	if err == nil {
		return
	}
	var herr *reqivo.HTTPError
	kind := ""
	switch {
	case errors.As(err, &herr):
		kind = "http " + strconv.Itoa(herr.StatusCode)
	case errors.Is(err, errWrong):
		kind = "wrong answer"
		if len(l.wrong) < 20 {
			l.wrong = append(l.wrong, name+": "+err.Error())
		}
	default:
		for _, k := range kinds {
			if errors.Is(err, k) {
				kind = strings.TrimPrefix(k.Error(), "reqivo: ")
				break
			}
		}
		if kind == "" {
			kind = "no kind"
			if len(l.unkind) < 20 {
				l.unkind = append(l.unkind, name+": "+err.Error())
			}
		}
	}
	if l.errs[name] == nil {
		l.errs[name] = map[string]int{}
	}
	l.errs[name][kind]++
}

var errWrong = errors.New("wrong answer")

func wrong(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errWrong}, args...)...)
}

func (l *load) get(ctx context.Context, w int) error {
	r, err := l.s.Get(ctx, "/get", reqivo.Query("w", strconv.Itoa(w)))
	if err != nil {
		return err
	}
	var v struct{ Path string }
	if err := r.JSON(&v); err != nil {
		return err
	}
	if v.Path != "/get" {
		return wrong("get: path %q", v.Path)
	}
	return r.Err()
}

func (l *load) post(ctx context.Context, w int) error {
	key := "k" + strconv.FormatInt(l.seq.Add(1), 10)
	in := map[string]any{"key": key, "pad": strings.Repeat("p", 512)}
	r, err := l.s.Post(ctx, "/post", reqivo.JSON(in), reqivo.Header("Idempotency-Key", key))
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	var out map[string]any
	if err := r.JSON(&out); err != nil {
		return err
	}
	if out["key"] != key {
		return wrong("post: echoed %v for %s", out["key"], key)
	}
	l.mu.Lock()
	l.okPosts[key] = true
	l.mu.Unlock()
	return nil
}

func (l *load) stream(ctx context.Context, w int) error {
	r, err := l.s.Get(ctx, "/stream", reqivo.Stream())
	if err != nil {
		return err
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		return err
	}
	if n != 256<<10 {
		return wrong("stream: %d bytes", n)
	}
	return nil
}

func (l *load) events(ctx context.Context, w int) error {
	last := -1
	for ev, err := range l.s.Events(ctx, http.MethodGet, "/events") {
		if err != nil {
			return err
		}
		id, _ := strconv.Atoi(ev.ID)
		if id != last+1 {
			return wrong("events: id %d after %d", id, last)
		}
		last = id
		if last == 19 {
			return nil
		}
	}
	return wrong("events: ended at id %d", last)
}

func (l *load) jsonLines(ctx context.Context, w int) error {
	n := 0
	type line struct {
		N    int
		Name string
	}
	for v, err := range reqivo.JSONLines[line](ctx, l.s, http.MethodGet, "/jsonl") {
		if err != nil {
			return err
		}
		if v.N != n {
			return wrong("jsonlines: line %d is %d", n, v.N)
		}
		n++
	}
	if n != 50 {
		return wrong("jsonlines: %d lines", n)
	}
	return nil
}

func (l *load) webSocket(ctx context.Context, w int) error {
	ws, err := l.s.WebSocket(ctx, "/ws")
	if err != nil {
		return err
	}
	defer ws.Close()
	for i := range 3 {
		msg := "m" + strconv.Itoa(i)
		if err := ws.SendText(ctx, msg); err != nil {
			return err
		}
		_, got, err := ws.Receive(ctx)
		if err != nil {
			return err
		}
		if string(got) != msg {
			return wrong("websocket: %q for %q", got, msg)
		}
	}
	return nil
}

var blobSum = func() string { s := sha256.Sum256(blob); return hex.EncodeToString(s[:]) }()

func (l *load) download(ctx context.Context, w int) error {
	path := filepath.Join(l.dir, "blob-"+strconv.Itoa(w))
	_, err := l.s.Download(ctx, "/file", path, reqivo.Resume(), reqivo.VerifySHA256(blobSum))
	return err
}

func (l *load) cached(ctx context.Context, w int) error {
	r, err := l.s.Get(ctx, "/cached")
	if err != nil {
		return err
	}
	if !bytes.Equal(r.Bytes(), bytes.Repeat([]byte("c"), 2048)) {
		return wrong("cached: %d bytes", len(r.Bytes()))
	}
	return r.Err()
}

// problems lists what the soak saw go wrong in the answers.
func (l *load) problems() []string {
	var p []string
	for _, e := range l.unkind {
		p = append(p, "error without a kind: "+e)
	}
	return append(p, l.wrong...)
}

// checkKeys asks the origin (past the proxy) how often each POST reached
// it: never more than the policy's attempts, and at least once for every
// POST the client saw succeed.
func (l *load) checkKeys(direct string) []string {
	resp, err := http.Get("http://" + direct + "/keys")
	if err != nil {
		return []string{"reading the server's counts: " + err.Error()}
	}
	defer resp.Body.Close()
	var keys map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		return []string{"reading the server's counts: " + err.Error()}
	}
	var p []string
	for k, n := range keys {
		if n > maxAttempts*hedgeMax {
			p = append(p, fmt.Sprintf("POST %s reached the server %d times (policy allows %d)", k, n, maxAttempts*hedgeMax))
		}
	}
	for k := range l.okPosts {
		if keys[k] == 0 {
			p = append(p, "POST "+k+" succeeded but never reached the server")
		}
	}
	return p
}

// report is the soak's table: calls and errors by workload, the session's
// counters, and the resources before, at their peak, and after.
func (l *load) report(base, peak, end sample) string {
	var b strings.Builder
	st := l.s.Stats()
	fmt.Fprintf(&b, "%-10s %8s %8s  %s\n", "workload", "calls", "errors", "by kind")
	names := make([]string, 0, len(l.ops))
	for n := range l.ops {
		names = append(names, n)
	}
	sort.Strings(names)
	total, failed := 0, 0
	for _, n := range names {
		e := 0
		var kinds []string
		for k, c := range l.errs[n] {
			e += c
			kinds = append(kinds, fmt.Sprintf("%s=%d", k, c))
		}
		sort.Strings(kinds)
		total += l.ops[n]
		failed += e
		fmt.Fprintf(&b, "%-10s %8d %8d  %s\n", n, l.ops[n], e, strings.Join(kinds, " "))
	}
	fmt.Fprintf(&b, "%-10s %8d %8d\n", "all", total, failed)
	fmt.Fprintf(&b, "sent on the wire %d (hedges %d), connections %d, cache hits %d, budget refusals %d (notices %d)\n",
		st.Requests, st.Hedges, st.ConnsOpened, st.CacheHits, st.RetryBudgetRefused, l.budget.Load())
	fmt.Fprintf(&b, "goroutines %d / peak %d / after %d; fds %d / %d / %d; heap %.1f / %.1f / %.1f MiB\n",
		base.goroutines, peak.goroutines, end.goroutines, base.fds, peak.fds, end.fds,
		mib(base.heap), mib(peak.heap), mib(end.heap))
	return b.String()
}
