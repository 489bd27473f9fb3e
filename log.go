// Logging: one structured record per attempt on the wire, and one per
// retry, with every credential redacted.

package reqivo

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"time"
)

// redacted replaces a secret in logs, as in RedactURL.
const redacted = "xxxxx"

// WithLogger logs the session's traffic to l: at Debug, one record per
// attempt on the wire (each redirect hop and retry is one), written when
// the attempt ends, that is when its response body is read to the end or
// closed (for a Stream request, when the caller closes it), or when it
// fails; at Warn, one record per retry. A record holds the method, the URL
// redacted as by RedactURL, the status, the duration, the attempt number,
// the body bytes read, whether the connection was reused, and the request
// and response headers with the values of Authorization,
// Proxy-Authorization, Cookie, Set-Cookie, the headers named by
// WithSensitiveHeaders and others that look secret (a name with token, key,
// secret, auth, session, signature ...) redacted. Bodies are never logged.
//
// If not set, nothing is logged, and requests pay nothing for logging. A nil
// l is an error.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errorf(ErrInvalidOption, "nil logger")
		}
		c.logger = l
		return nil
	}
}

// attemptLog is the record of one attempt, written once when it ends.
type attemptLog struct {
	s       *Session
	req     *http.Request
	n       int
	start   time.Time
	once    sync.Once
	mu      sync.Mutex // guards reused, written by the transport
	reused  bool
	gotConn bool
}

// startAttempt returns the request to send for attempt n, with a trace
// that sees whether its connection is reused, and its log; req itself and
// nil when Debug is off.
func (s *Session) startAttempt(req *http.Request, n int) (*http.Request, *attemptLog) {
	ctx := req.Context()
	if !s.cfg.logger.Enabled(ctx, slog.LevelDebug) {
		return req, nil
	}
	al := &attemptLog{s: s, req: req, n: n, start: time.Now()}
	ct := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		al.mu.Lock()
		al.reused, al.gotConn = info.Reused, true
		al.mu.Unlock()
	}}
	return req.WithContext(httptrace.WithClientTrace(ctx, ct)), al
}

// end writes the record at once if the attempt failed, or when resp's body
// ends; it returns resp with its body watched.
func (al *attemptLog) end(resp *http.Response, err error) *http.Response {
	if err != nil {
		al.write(nil, 0, err)
		return resp
	}
	resp.Body = &loggedBody{r: resp.Body, al: al, resp: resp}
	return resp
}

func (al *attemptLog) write(resp *http.Response, n int64, err error) {
	al.once.Do(func() {
		al.mu.Lock()
		reused, gotConn := al.reused, al.gotConn
		al.mu.Unlock()
		attrs := make([]slog.Attr, 0, 10)
		attrs = append(attrs,
			slog.String("method", al.req.Method),
			slog.String("url", redactURL(al.req.URL)),
			slog.Int("attempt", al.n),
		)
		if resp != nil {
			attrs = append(attrs, slog.Int("status", resp.StatusCode))
		}
		attrs = append(attrs,
			slog.Duration("duration", time.Since(al.start)),
			slog.Int64("bytes", n),
		)
		if gotConn {
			attrs = append(attrs, slog.Bool("reused", reused))
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", classify(nil, err).Error()))
		}
		attrs = append(attrs, slog.Any("request_headers", redactedHeader{al.req.Header, al.s.cfg.sensitive}))
		if resp != nil {
			attrs = append(attrs, slog.Any("response_headers", redactedHeader{resp.Header, al.s.cfg.sensitive}))
		}
		al.s.cfg.logger.LogAttrs(al.req.Context(), slog.LevelDebug, "reqivo: attempt", attrs...)
	})
}

// loggedBody counts a response body and writes the attempt's record at
// its end or close.
type loggedBody struct {
	r    io.ReadCloser
	al   *attemptLog
	resp *http.Response
	n    int64
}

func (b *loggedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.al.write(b.resp, b.n, nil)
	} else if err != nil {
		b.al.write(b.resp, b.n, err)
	}
	return n, err
}

func (b *loggedBody) Close() error {
	err := b.r.Close()
	b.al.write(b.resp, b.n, nil)
	return err
}

// logRetry writes the Warn record of a retry of attempt n, after wait.
func (s *Session) logRetry(req *http.Request, n int, wait time.Duration, resp *http.Response, err error) {
	ctx := req.Context()
	if !s.cfg.logger.Enabled(ctx, slog.LevelWarn) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("url", redactURL(req.URL)),
		slog.Int("attempt", n),
		slog.Duration("wait", wait),
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", classify(nil, err).Error()))
	}
	s.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "reqivo: retry", attrs...)
}

// logGiveUp writes the Warn record of attempt n, which the policy would
// retry, ending the retries with resp, and why.
func (s *Session) logGiveUp(req *http.Request, n int, resp *http.Response, why string) {
	ctx := req.Context()
	if !s.cfg.logger.Enabled(ctx, slog.LevelWarn) {
		return
	}
	s.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "reqivo: not retrying",
		slog.String("method", req.Method),
		slog.String("url", redactURL(req.URL)),
		slog.Int("attempt", n),
		slog.Int("status", resp.StatusCode),
		slog.String("reason", why),
	)
}

// redactedHeader logs a header with its secrets redacted; it is a
// LogValuer, so nothing is built unless a handler writes the record.
type redactedHeader struct {
	h         http.Header
	sensitive map[string]bool
}

func (r redactedHeader) LogValue() slog.Value {
	keys := make([]string, 0, len(r.h))
	for k := range r.h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		vs := r.h[k]
		var v string
		switch {
		case len(vs) == 0:
		case secretHeader(k, r.sensitive):
			v = redacted
		case k == "Location" || k == "Referer" || k == "Content-Location":
			v = RedactURL(vs[0])
			for _, x := range vs[1:] {
				v += ", " + RedactURL(x)
			}
		default:
			v = vs[0]
			for _, x := range vs[1:] {
				v += ", " + x
			}
		}
		attrs = append(attrs, slog.String(k, v))
	}
	return slog.GroupValue(attrs...)
}

// secretHeader reports whether the values of header k are kept out of logs.
func secretHeader(k string, sensitive map[string]bool) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie":
		return true
	}
	return sensitive[http.CanonicalHeaderKey(k)] || isSecretQueryKey(k)
}
