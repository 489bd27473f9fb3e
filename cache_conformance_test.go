package reqivo

// The HTTP caching test suite (http-tests/cache-tests) run against a
// session's cache: its test engine's server and client checks ported to Go
// (see testdata/cachetests/README.md).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ctSuite struct {
	Name  string   `json:"name"`
	ID    string   `json:"id"`
	Tests []ctTest `json:"tests"`
}

type ctTest struct {
	Name        string      `json:"name"`
	ID          string      `json:"id"`
	Kind        string      `json:"kind"` // "" (required), "optimal", "check"
	DependsOn   []string    `json:"depends_on"`
	CDNOnly     bool        `json:"cdn_only"`
	BrowserOnly bool        `json:"browser_only"`
	BrowserSkip bool        `json:"browser_skip"` // not for a browser: a private cache
	Requests    []ctRequest `json:"requests"`
}

type ctRequest struct {
	Setup                          bool            `json:"setup"`
	SetupTests                     []string        `json:"setup_tests"`
	PauseAfter                     bool            `json:"pause_after"`
	RequestMethod                  string          `json:"request_method"`
	RequestHeaders                 [][]any         `json:"request_headers"`
	RequestBody                    *string         `json:"request_body"`
	ResponseStatus                 []any           `json:"response_status"`
	ResponseHeaders                [][]any         `json:"response_headers"`
	ResponseBody                   *string         `json:"response_body"`
	ExpectedType                   string          `json:"expected_type"`
	ExpectedStatus                 json.RawMessage `json:"expected_status"`
	ExpectedResponseHeaders        []any           `json:"expected_response_headers"`
	ExpectedResponseHeadersMissing []any           `json:"expected_response_headers_missing"`
	ExpectedRequestHeaders         []any           `json:"expected_request_headers"`
	ExpectedRequestHeadersMissing  []any           `json:"expected_request_headers_missing"`
	ExpectedResponseText           json.RawMessage `json:"expected_response_text"`
	ExpectedMethod                 string          `json:"expected_method"`
	CheckBody                      *bool           `json:"check_body"`
	MagicLocations                 bool            `json:"magic_locations"`
	MagicIMS                       bool            `json:"magic_ims"`
	QueryArg                       *string         `json:"query_arg"`
	Filename                       *string         `json:"filename"`
	Disconnect                     bool            `json:"disconnect"`
	RFC850Date                     []string        `json:"rfc850date"`
	Cache                          string          `json:"cache"` // a fetch cache mode
	Interim                        json.RawMessage `json:"interim_responses"`
	ExpectedInterim                json.RawMessage `json:"expected_interim_responses"`
}

func (r *ctRequest) setupFor(member string) bool {
	return r.Setup || slices.Contains(r.SetupTests, member)
}

// ctFailure is a failed check: Setup when the check was part of the
// test's setup (the case could not be run), as in the suite's engine.
type ctFailure struct {
	Setup bool
	Msg   string
}

func (f *ctFailure) Error() string { return f.Msg }

func ctAssert(setup, cond bool, format string, args ...any) {
	if !cond {
		panic(&ctFailure{Setup: setup, Msg: fmt.Sprintf(format, args...)})
	}
}

var ctDateHeaders = map[string]bool{"date": true, "expires": true, "last-modified": true, "if-modified-since": true, "if-unmodified-since": true}

// ctFixup is the engine's fixupHeader: numbers in date fields are seconds
// from the server's now; magic locations are under the request's path.
func ctFixup(name string, value any, serverNow time.Time, baseURL string, r *ctRequest) string {
	lname := strings.ToLower(name)
	if f, ok := value.(float64); ok && ctDateHeaders[lname] {
		t := serverNow.Add(time.Duration(f) * time.Second).UTC()
		if slices.Contains(r.RFC850Date, lname) {
			return t.Format("Monday, 02-Jan-06 15:04:05 GMT")
		}
		return t.Format(http.TimeFormat)
	}
	s := fmt.Sprint(value)
	if f, ok := value.(float64); ok {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if (lname == "location" || lname == "content-location") && r.MagicLocations {
		if s != "" {
			return baseURL + "/" + s
		}
		return baseURL
	}
	return s
}

// ctServer is the engine's test server, on a fake clock.
type ctServer struct {
	mu    sync.Mutex
	tests map[string]*ctState
}

type ctState struct {
	reqs  []ctRequest
	clock *fakeClock
	seen  []ctSeen
}

type ctSeen struct {
	num     int
	method  string
	header  http.Header
	headers [][2]string // the saved response headers
}

func (s *ctServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	uuid, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/test/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.tests[uuid]
	if st == nil {
		w.WriteHeader(404)
		return
	}
	srvNum := len(st.seen) + 1
	cliNum, _ := strconv.Atoi(req.Header.Get("Req-Num"))
	num := cliNum
	if num == 0 {
		num = srvNum
	}
	if num > len(st.reqs) {
		w.WriteHeader(409)
		return
	}
	rc := &st.reqs[num-1]
	now := st.clock.Now()

	status := 200
	if len(rc.ResponseStatus) > 0 {
		status = int(rc.ResponseStatus[0].(float64))
	}
	if strings.HasSuffix(rc.ExpectedType, "validated") && num >= 2 {
		prev := &st.reqs[num-2]
		status = 999
		if lm := ctHeader(prev.ResponseHeaders, "Last-Modified"); lm != "" && req.Header.Get("If-Modified-Since") == lm {
			status = 304
		}
		if et := ctHeader(prev.ResponseHeaders, "ETag"); et != "" && req.Header.Get("If-None-Match") == et {
			status = 304
		}
	}
	h := w.Header()
	base := req.URL.RequestURI()
	h.Set("Server-Base-Url", base)
	h.Set("Server-Request-Count", strconv.Itoa(srvNum))
	h.Set("Client-Request-Count", strconv.Itoa(cliNum))
	h.Set("Server-Now", strconv.FormatInt(now.UnixMilli(), 10))
	var saved [][2]string
	savedVals := map[string][]string{}
	var order []string
	for _, hd := range rc.ResponseHeaders {
		name := hd[0].(string)
		v := ctFixup(name, hd[1], now, base, rc)
		h.Add(name, v)
		if len(hd) < 3 || hd[2] == true {
			if _, ok := savedVals[name]; !ok {
				order = append(order, name)
			}
			savedVals[name] = h.Values(name)
		}
	}
	for _, n := range order {
		saved = append(saved, [2]string{n, strings.Join(savedVals[n], ", ")})
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain")
	}
	if h.Get("Date") == "" {
		h.Set("Date", now.UTC().Format(http.TimeFormat)) // node sends one
	}
	st.seen = append(st.seen, ctSeen{num: cliNum, method: req.Method, header: req.Header.Clone(), headers: saved})
	var nums []string
	for _, s := range st.seen {
		nums = append(nums, strconv.Itoa(s.num))
	}
	h.Set("Request-Numbers", strings.Join(nums, " "))
	if rc.Disconnect {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	w.WriteHeader(status)
	if status == 204 || status == 304 || req.Method == http.MethodHead {
		return
	}
	body := uuid
	if rc.ResponseBody != nil && *rc.ResponseBody != "" {
		body = *rc.ResponseBody
	}
	if cl, err := strconv.Atoi(h.Get("Content-Length")); err == nil && cl < len(body) {
		body = body[:cl] // a declared length cuts the body, as node's server does
	}
	io.WriteString(w, body)
}

func ctHeader(hs [][]any, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h[0].(string), name) {
			if s, ok := h[1].(string); ok {
				return s
			}
		}
	}
	return ""
}

// run runs one case and returns "pass", or the failure.
func (s *ctServer) run(t *testing.T, srvURL string, tc ctTest) (result error) {
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(*ctFailure)
			if !ok {
				panic(p)
			}
			result = f
		}
	}()
	uuid := ctUUID(tc.ID) // 36 characters, as the engine's: some cases count on it
	clk := newFakeClock()
	s.mu.Lock()
	st := &ctState{reqs: tc.Requests, clock: clk}
	s.tests[uuid] = st
	s.mu.Unlock()

	// No jar and no redirects: the engine's client is fetch in node,
	// which has neither here.
	sess, err := NewSession(WithCache(NewMemoryCache(1<<20)), WithMaxRedirects(0), WithCookieJar(nil))
	require.NoError(t, err)
	defer sess.Close()
	clk.install(sess)
	var responses []*Response
	var prev http.Header
	for i := range tc.Requests {
		rc := &tc.Requests[i]
		num := i + 1
		u := srvURL + "/test/" + uuid
		if rc.Filename != nil {
			u += "/" + *rc.Filename
		}
		if rc.QueryArg != nil {
			u += "?" + *rc.QueryArg
		}
		method := rc.RequestMethod
		if method == "" {
			method = http.MethodGet
		}
		var opts []RequestOption
		reqHdr := http.Header{}
		for _, hd := range rc.RequestHeaders {
			name := hd[0].(string)
			v := fmt.Sprint(hd[1])
			if rc.MagicIMS && strings.EqualFold(name, "If-Modified-Since") && prev != nil {
				ms, _ := strconv.ParseInt(prev.Get("Server-Now"), 10, 64)
				v = ctFixup(name, hd[1], time.UnixMilli(ms), "", rc)
			}
			reqHdr.Add(name, v)
		}
		for name, vs := range reqHdr {
			opts = append(opts, Header(name, strings.Join(vs, ", "))) // as fetch combines them
		}
		if rc.Cache == "no-cache" {
			// What fetch sends for this mode, and what a caller of a
			// session would send for a reload.
			opts = append(opts, Header("Cache-Control", "max-age=0"))
		}
		opts = append(opts, Header("Test-ID", tc.ID), Header("Req-Num", strconv.Itoa(num)))
		if rc.RequestBody != nil {
			opts = append(opts, BodyString(*rc.RequestBody))
		}
		resp, err := sess.Request(context.Background(), method, u, opts...)
		if err != nil {
			ctAssert(false, false, "request %d failed: %s", num, strings.ReplaceAll(err.Error(), srvURL, "SERVER"))
		}
		responses = append(responses, resp)
		prev = resp.Header
		ctCheckResponse(uuid, rc, num, resp)
		if rc.PauseAfter {
			clk.elapse(3 * time.Second)
		}
	}
	s.mu.Lock()
	seen := slices.Clone(st.seen)
	delete(s.tests, uuid)
	s.mu.Unlock()
	ctCheckServer(tc.Requests, responses, seen)
	return nil
}

// ctUUID makes a test's UUID-shaped token from its id.
func ctUUID(id string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h), uint16(h>>32), uint16(h>>48)&0xfff, uint16(h>>20)&0xfff, h&0xffffffffffff)
}

// ctGet is fetch's Headers.get: the values joined with ", ".
func ctGet(h http.Header, name string) (string, bool) {
	vs := h.Values(name)
	return strings.Join(vs, ", "), len(vs) > 0
}

func ctCheckResponse(uuid string, rc *ctRequest, num int, resp *Response) {
	resNum, err := strconv.Atoi(resp.Header.Get("Server-Request-Count"))
	switch rc.ExpectedType {
	case "cached":
		if !(resp.StatusCode == 304 && err != nil) {
			ctAssert(rc.setupFor("expected_type"), err == nil && resNum < num, "Response %d does not come from cache", num)
		}
	case "not_cached":
		ctAssert(rc.setupFor("expected_type"), resNum == num, "Response %d comes from cache", num)
	}
	switch {
	case len(rc.ExpectedStatus) > 0:
		if string(rc.ExpectedStatus) != "null" {
			want, _ := strconv.Atoi(string(rc.ExpectedStatus))
			ctAssert(rc.setupFor("expected_status"), resp.StatusCode == want, "Response %d status is %d, not %d", num, resp.StatusCode, want)
		}
	case len(rc.ResponseStatus) > 0:
		want := int(rc.ResponseStatus[0].(float64))
		ctAssert(true, resp.StatusCode == want, "Response %d status is %d, not %d", num, resp.StatusCode, want)
	case resp.StatusCode == 999:
		ctAssert(rc.setupFor("expected_type"), false, "Request %d should have been conditional, but it was not.", num)
	default:
		ctAssert(true, resp.StatusCode == 200, "Response %d status is %d, not 200", num, resp.StatusCode)
	}
	setup := rc.setupFor("expected_response_headers")
	for _, e := range rc.ExpectedResponseHeaders {
		switch e := e.(type) {
		case string:
			_, ok := ctGet(resp.Header, e)
			ctAssert(setup, ok, "Response %d %s header not present.", num, e)
		case []any:
			name := e[0].(string)
			got, ok := ctGet(resp.Header, name)
			if len(e) > 2 {
				ctAssert(setup, ok, "Response %d %s header not present.", num, name)
				switch e[1] {
				case "=":
					want, _ := ctGet(resp.Header, e[2].(string))
					ctAssert(setup, got == want, "Response %d header %s is %s, should match %s (%s)", num, name, got, e[2], want)
				case ">":
					n, _ := strconv.Atoi(got)
					ctAssert(setup, float64(n) > e[2].(float64), "Response %d header %s is %s, should be bigger than %v", num, name, got, e[2])
				}
				continue
			}
			ms, _ := strconv.ParseInt(resp.Header.Get("Server-Now"), 10, 64)
			want := ctFixup(name, e[1], time.UnixMilli(ms), resp.Header.Get("Server-Base-Url"), rc)
			ctAssert(setup, got == want, "Response %d header %s is %q, not %q", num, name, got, want)
		}
	}
	setup = rc.setupFor("expected_response_headers_missing")
	for _, e := range rc.ExpectedResponseHeadersMissing {
		switch e := e.(type) {
		case string:
			got, ok := ctGet(resp.Header, e)
			ctAssert(setup, !ok, "Response %d includes unexpected header %s: %q", num, e, got)
		case []any:
			// The engine reads response.headers[name], always undefined
			// on a fetch Headers: this form never fails there.
		}
	}
	body := resp.Text()
	switch {
	case rc.CheckBody != nil && !*rc.CheckBody:
	case len(rc.ExpectedResponseText) > 0:
		if string(rc.ExpectedResponseText) != "null" {
			var want string
			_ = json.Unmarshal(rc.ExpectedResponseText, &want)
			ctAssert(rc.setupFor("expected_response_text"), body == want, "Response body is %q, not %q", body, want)
		}
	case rc.ResponseBody != nil:
		ctAssert(true, body == *rc.ResponseBody, "Response body is %q, not %q", body, *rc.ResponseBody)
	case resp.StatusCode != 204 && resp.StatusCode != 304 && rc.RequestMethod != "HEAD":
		ctAssert(true, body == uuid, "Response body is %q, not %q", body, uuid)
	}
}

func ctCheckServer(reqs []ctRequest, responses []*Response, seen []ctSeen) {
	idx := 0
	for i := range reqs {
		rc := &reqs[i]
		num := i + 1
		var sr *ctSeen
		if idx < len(seen) {
			sr = &seen[idx]
		}
		typeSetup := rc.setupFor("expected_type")
		var validating []string
		switch rc.ExpectedType {
		case "cached":
			continue
		case "not_cached":
			ctAssert(typeSetup, sr != nil && sr.num == num, "Response %d comes from cache", num)
		case "etag_validated":
			validating = append(validating, "If-None-Match")
		case "lm_validated":
			validating = append(validating, "If-Modified-Since")
		}
		idx++
		for _, v := range validating {
			ctAssert(typeSetup, sr != nil, "request %d wasn't sent to server", num)
			_, ok := sr.header[v]
			ctAssert(typeSetup, ok, "request %d doesn't have %s header", num, strings.ToLower(v))
		}
		setup := rc.setupFor("expected_request_headers")
		for _, e := range rc.ExpectedRequestHeaders {
			ctAssert(setup, sr != nil, "request %d wasn't sent to server", num)
			switch e := e.(type) {
			case string:
				_, ok := sr.header[http.CanonicalHeaderKey(e)]
				ctAssert(setup, ok, "Request %d %s header not present.", num, e)
			case []any:
				got := strings.Join(sr.header.Values(e[0].(string)), ", ")
				ctAssert(setup, got == e[1], "Request %d header %s is %q, not %q", num, e[0], got, e[1])
			}
		}
		setup = rc.setupFor("expected_request_headers_missing")
		for _, e := range rc.ExpectedRequestHeadersMissing {
			if sr == nil {
				break
			}
			switch e := e.(type) {
			case string:
				_, ok := sr.header[http.CanonicalHeaderKey(e)]
				ctAssert(setup, !ok, "Request %d %s header present.", num, e)
			case []any:
				got := strings.Join(sr.header.Values(e[0].(string)), ", ")
				ctAssert(setup, got != e[1], "Request %d header %s is %q", num, e[0], got)
			}
		}
		if sr != nil && i < len(responses) {
			for _, hd := range sr.headers {
				if strings.EqualFold(hd[0], "date") {
					continue
				}
				got, _ := ctGet(responses[i].Header, hd[0])
				ctAssert(true, got == hd[1], "Response %d header %s is %q, not %q", num, hd[0], got, hd[1])
			}
		}
		if rc.ExpectedMethod != "" {
			ctAssert(rc.setupFor("expected_method"), sr != nil && sr.method == rc.ExpectedMethod, "Request %d had method %v, not %s", num, sr, rc.ExpectedMethod)
		}
	}
}

// ctApplies reports whether a case is about a private client cache: not
// the ones the suite marks for shared caches only (browser_skip: a
// browser's cache is private; cdn_only), nor the suites of features
// outside a cache's policy (interim responses) or of another
// specification (CDN-Cache-Control).
func ctApplies(suite string, tc ctTest) bool {
	return !tc.CDNOnly && !tc.BrowserSkip && suite != "cdn-cache-control" && suite != "interim"
}

const ctExpectedPath = "testdata/cachetests/expected.json"

// TestCacheConformance runs the suite and compares each result with
// testdata/cachetests/expected.json.
func TestCacheConformance(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/cachetests/suite.json")
	require.NoError(t, err)
	var suites []ctSuite
	require.NoError(t, json.Unmarshal(raw, &suites))
	srv := &ctServer{tests: map[string]*ctState{}}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	results := map[string]string{}
	for _, suite := range suites {
		for _, tc := range suite.Tests {
			if !ctApplies(suite.ID, tc) {
				continue
			}
			kind := tc.Kind
			if kind == "" {
				kind = "required"
			}
			key := suite.ID + "/" + tc.ID + " (" + kind + ")"
			if dep := ctFailedDep(tc, results, suite.ID); dep != "" {
				results[key] = "untested: " + dep + " did not pass"
				continue
			}
			var f *ctFailure
			switch err := srv.run(t, ts.URL, tc); {
			case err == nil:
				results[key] = "pass"
			case errors.As(err, &f) && f.Setup:
				results[key] = "setup failed: " + f.Msg
			default:
				results[key] = "fail: " + err.Error()
			}
		}
	}

	if os.Getenv("REQIVO_CACHE_TESTS_UPDATE") != "" {
		b, err := json.MarshalIndent(results, "", " ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(ctExpectedPath, append(b, '\n'), 0o644))
	}
	want := map[string]string{}
	b, err := os.ReadFile(ctExpectedPath)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &want))
	for _, k := range slices.Sorted(maps.Keys(results)) {
		assert.Equal(t, want[k], results[k], k)
	}
	assert.Len(t, results, len(want))
	t.Log(ctSummary(results))
}

func ctFailedDep(tc ctTest, results map[string]string, suite string) string {
	for _, d := range tc.DependsOn {
		for k, v := range results {
			if strings.Contains(k, "/"+d+" (") && v != "pass" {
				return d
			}
		}
	}
	return ""
}

// ctSummary counts the results by kind.
func ctSummary(results map[string]string) string {
	type count struct{ pass, fail, setup, untested int }
	by := map[string]*count{}
	for k, v := range results {
		kind := k[strings.LastIndex(k, "(")+1 : len(k)-1]
		c := by[kind]
		if c == nil {
			c = &count{}
			by[kind] = c
		}
		switch {
		case v == "pass":
			c.pass++
		case strings.HasPrefix(v, "fail"):
			c.fail++
		case strings.HasPrefix(v, "setup"):
			c.setup++
		default:
			c.untested++
		}
	}
	var b strings.Builder
	for _, kind := range slices.Sorted(maps.Keys(by)) {
		c := by[kind]
		fmt.Fprintf(&b, "%s: %d pass, %d fail, %d setup failed, %d untested\n", kind, c.pass, c.fail, c.setup, c.untested)
	}
	return b.String()
}
