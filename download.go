// Download: a GET whose body goes to a file, all of it or none, with a
// body that breaks retried as the session's RetryPolicy says (continued
// from where it broke with Resume), and the file checked before it
// replaces the target.

package reqivo

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Download GETs rawURL and writes the body to path. The body goes first to
// a file beside path (a temporary one, or a part file with Resume), which
// stays readable by the owner only until it is renamed to path once the
// whole body is written, checked and synced; path holds either the
// complete body or what it held before (nothing, or an older file, which a
// success replaces). The new file keeps the mode of the file it replaces;
// a new one gets 0666 less the umask, as the process would create it
// (curl and wget do the same).
//
// opts are those of Get (OnDownloadProgress shows the transfer, counting
// what an earlier call left in a part with Resume; a restart counts from
// zero again), plus Resume, VerifySHA256 and NoSync. The body is streamed, not
// held in memory, and is not bounded by Limits.MaxResponseBytes. It is
// saved as the server sends it: unless opts set Accept-Encoding, the
// request asks for "identity" (no compression), as curl and wget do, so
// that the file, its length and its digest are those of the resource
// (with Resume, "identity" is always asked for, as Range counts bytes of
// the body as sent). A request body, or a Range header (as a request or
// session header), is refused with ErrInvalidOption before anything is
// sent: use Resume to continue a file.
//
// The file must have the length the server announced (Content-Length, or
// the complete length of a Content-Range), and with VerifySHA256 that
// digest; otherwise nothing is left (no part either) and the error
// matches ErrInvalidResponse and says which check failed.
//
// A body that breaks in the middle (a connection lost: ErrNetwork) is
// retried as the session's RetryPolicy says, after its backoff (or the
// response's Retry-After, up to MaxWait), while the attempts so far are
// fewer than MaxAttempts: MaxAttempts bounds every attempt of the
// Download, the requests' own retries and the body retries together.
// Each retry is reported to Observer.Retry. Without Resume the body
// restarts from zero. The returned
// Response's Retries list every attempt that was retried.
//
// The session's total timeout (30 s unless set) covers each request of
// the transfer: give a large download a longer Timeout, or Timeout(0) for
// none (the read timeout still ends a transfer that stalls); the context
// bounds the whole call. A status other than 2xx writes nothing and is
// returned as an *HTTPError. On success the returned Response is the last
// one received, with its status (200; 206 when a part was continued; 416
// when the part was already whole) and headers, and no body. A path whose
// directory cannot take a file fails with ErrInvalidOption before
// anything is sent; a failure to write the file is a *RequestError whose
// cause is the *fs.PathError.
func (s *Session) Download(ctx context.Context, rawURL, path string, opts ...RequestOption) (*Response, error) {
	d := &download{s: s, ctx: ctx, rawURL: rawURL, path: path, opts: opts}
	if err := d.init(); err != nil {
		return nil, newRequestError(http.MethodGet, s.shownURL(rawURL), err)
	}
	resp, err := d.run()
	if err != nil {
		d.abandon()
		return nil, err
	}
	return resp, nil
}

// download is one call of Download.
type download struct {
	s      *Session
	ctx    context.Context
	rawURL string
	path   string
	opts   []RequestOption // the caller's

	resume   bool
	noSync   bool                    // NoSync: no fsync before the rename
	sha256   []byte                  // nil: no digest check
	progress func(done, total int64) // the caller's, or nil
	identity bool                    // ask for Accept-Encoding: identity
	url      string                  // with Resume: the URL the part is kept for (partURL)
	part     *partFile

	sentRange bool  // the request in flight asked for the rest of the part
	noRange   bool  // the server botched a Range: restart without one
	size      int64 // the length the server announced for the whole body; -1: not known
	base      int64 // bytes already in the file when the body in flight began
	attempts  int   // attempts sent so far, retried requests included
	tries     []Attempt
}

// errRestart is receive's word that the part is not continued: the body is
// fetched again from zero, without Range. Download never returns it.
var errRestart = errors.New("reqivo: restart the download")

// init checks the options and the path, and opens the file the body goes
// to; nothing is sent.
func (d *download) init() error {
	rc := requestConfig{in: entryDownload}
	_, err := d.s.admit(d.ctx, &rc, rc.apply(d.opts))
	if rc.bodySet {
		rc.closeBody()
		if err == nil {
			err = errorf(ErrInvalidOption, "a download sends no request body")
		}
	}
	if err != nil {
		return err
	}
	_, own := rc.header["Range"]
	_, shared := d.s.state.Load().header["Range"]
	if own || shared {
		return errorf(ErrInvalidOption, "a download takes no Range header: Resume continues a part")
	}
	if dc := rc.download; dc != nil {
		d.resume, d.sha256, d.noSync = dc.resume, dc.sha256, dc.noSync
	}
	if rc.extra != nil {
		d.progress = rc.extra.download
	}
	_, ownAE := rc.header["Accept-Encoding"]
	_, sharedAE := d.s.state.Load().header["Accept-Encoding"]
	d.identity = d.resume || !ownAE && !sharedAE

	if d.path == "" {
		return errorf(ErrInvalidOption, "empty download path")
	}
	if fi, err := os.Stat(d.path); err == nil && fi.IsDir() {
		return errorf(ErrInvalidOption, "download path "+quote(d.path)+" is a directory")
	}
	if d.resume {
		raw := d.rawURL
		if len(rc.pathParams) > 0 || strings.IndexByte(raw, '{') >= 0 {
			if raw, err = fillPath(raw, rc.pathParams); err != nil {
				return err
			}
		}
		u, rerr := d.s.resolve(raw)
		if rerr != nil {
			return rerr
		}
		if len(rc.query) > 0 { // as Request adds them
			u.RawQuery = strings.TrimPrefix(u.RawQuery+"&"+rc.query.Encode(), "&")
		}
		d.url = partURL(u)
		d.part, err = openPart(d.path, partPath(d.path, u), d.url)
	} else {
		d.part, err = createTemp(d.path)
	}
	if err != nil && !isKind(err) {
		err = wrapKind(ErrInvalidOption, "download path "+quote(d.path), err)
	}
	return err
}

// run sends requests until the file is complete, or an error is final.
func (d *download) run() (*Response, error) {
	for {
		resp, err := d.s.Request(d.ctx, http.MethodGet, d.rawURL, d.requestOptions()...)
		if err != nil {
			return nil, err
		}
		d.attempts += resp.Attempts()
		d.tries = append(d.tries, resp.retries...)
		wire, err := d.receive(resp)
		resp.Close()
		switch {
		case err == nil:
			if err := d.finish(); err != nil {
				return nil, newRequestError(http.MethodGet, redactURL(resp.Request.URL), err)
			}
			resp.Body = http.NoBody
			resp.retries = d.tries
			return resp, nil
		case err == errRestart:
			d.noRange = true
			if err := d.part.restart(); err != nil {
				return nil, newRequestError(http.MethodGet, redactURL(resp.Request.URL), err)
			}
			continue
		}
		var he *HTTPError
		switch {
		case errors.As(err, &he):
			return nil, err
		case !wire:
			// a check that failed, or the file: not the transfer
			return nil, newRequestError(http.MethodGet, redactURL(resp.Request.URL), err)
		}
		err = requestError(d.ctx, http.MethodGet, resp.Request.URL, err)
		if !d.retry(resp, err) {
			return nil, err
		}
	}
}

// requestOptions are the options of the next request: the caller's, then
// Download's own (which win).
func (d *download) requestOptions() []RequestOption {
	o := append(d.opts[:len(d.opts):len(d.opts)], Stream(), inDownload(d.attempts))
	if d.identity {
		o = append(o, Header("Accept-Encoding", "identity"))
	}
	d.sentRange = !d.noRange && d.part.continuable()
	if d.sentRange {
		o = append(o, Header("Range", "bytes="+strconv.FormatInt(d.part.offset, 10)+"-"),
			Header("If-Range", d.part.m.ifRange()))
	}
	if d.progress != nil {
		o = append(o, OnDownloadProgress(d.report))
	}
	return o
}

// inDownload marks a request as Download's, where Resume and VerifySHA256
// are in their place, after prior attempts of the same Download.
func inDownload(prior int) RequestOption {
	return func(rc *requestConfig) error {
		rc.in, rc.prior = entryDownload, prior
		return nil
	}
}

// report passes progress on to the caller's func, counting the bytes that
// were in the file before this body and the whole body's length.
func (d *download) report(done, total int64) {
	all := d.size
	if all < 0 && total >= 0 {
		all = d.base + total
	}
	d.progress(d.base+done, all)
}

// receive writes resp's body to the part. wire reports that err is the
// transfer's (the connection, a timeout), which a retry may mend.
func (d *download) receive(resp *Response) (wire bool, err error) {
	p := d.part
	expect := int64(-1) // the length of this body, when known
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		if !d.sentRange {
			return false, errorf(ErrInvalidResponse, "206 Partial Content to a request without Range")
		}
		cr, ok := parseContentRange(resp.Header.Get("Content-Range"))
		complete := cr.complete
		if complete < 0 {
			complete = p.m.Size
		}
		if !ok || cr.first != p.offset || !p.m.sameValidator(resp.Header) || resp.Uncompressed ||
			complete >= 0 && (cr.last != complete-1 || p.m.Size >= 0 && complete != p.m.Size) {
			return false, errRestart
		}
		if err := p.seekEnd(); err != nil {
			return false, err
		}
		expect, d.size = cr.last-cr.first+1, complete
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && d.sentRange:
		// If-Range held (else the answer would be the whole body), and
		// the part reaches the end: a crash after the last byte.
		complete := p.m.Size
		if cr, ok := parseContentRange(resp.Header.Get("Content-Range")); ok {
			complete = cr.complete
		}
		if complete != p.offset || p.m.Size >= 0 && p.m.Size != complete {
			return false, errRestart
		}
		d.size = complete
		return false, nil
	case resp.OK():
		// The whole body: the first answer, or a server that ignored the
		// Range or whose validator changed.
		size := resp.ContentLength
		if resp.Uncompressed {
			size = -1 // decoded: the length was of the coded body
		}
		if err := p.begin(metaFor(d.url, resp.Response, size)); err != nil {
			return false, err
		}
		expect, d.size = size, size
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return false, httpError(http.MethodGet, resp.Request.URL, resp.StatusCode, resp.Status, resp.Header, body)
	}
	d.base = p.offset
	n, err := io.Copy(p.f, resp.Body)
	p.offset += n
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return false, err // writing the file, not the transfer, failed
		}
		return true, err
	}
	if err := resp.Close(); err != nil {
		return true, err
	}
	if expect >= 0 && n != expect {
		return false, errorf(ErrInvalidResponse, "body of "+strconv.FormatInt(n, 10)+
			" bytes, the server announced "+strconv.FormatInt(expect, 10))
	}
	return false, nil
}

// retry reports whether the session's policy retries a body that broke
// with err, after waiting as for any retry (retryWait: backoff, a
// Retry-After the response carried, the deadline). Every attempt of the
// Download counts against MaxAttempts, the requests' own retries included.
func (d *download) retry(resp *Response, err error) bool {
	p := d.s.cfg.retry
	if p == nil || d.attempts >= p.MaxAttempts || d.ctx.Err() != nil {
		return false
	}
	cause := err
	var re *RequestError
	if errors.As(err, &re) {
		cause = re.Err
	}
	// The request's own context ended with its body: the policy sees the
	// caller's.
	req := resp.Request.WithContext(d.ctx)
	if !p.Retry(req, nil, cause) {
		return false
	}
	wait, _, ok := d.s.retryWait(d.ctx, p, d.attempts, resp.Response, cause)
	if !ok {
		return false
	}
	if !d.s.spendOutside(req, d.attempts, cause) {
		return false
	}
	d.s.retriedOutside(d.ctx, req.Method, req.URL, d.attempts, wait, cause)
	d.tries = append(d.tries, Attempt{Err: cause, Wait: wait})
	return d.s.clock.sleep(d.ctx, wait) == nil
}

// finish checks the complete file and renames it to the target with its
// mode. A file that fails the checks is removed.
func (d *download) finish() error {
	p := d.part
	if err := p.verify(d.size, d.sha256); err != nil {
		p.discard()
		d.part = nil
		return err
	}
	mode, err := fileMode(d.path)
	if err != nil {
		return err
	}
	sync := p.f.Sync
	if d.noSync {
		sync = func() error { return nil }
	}
	for _, step := range []func() error{
		func() error { return p.f.Chmod(mode) },
		sync,
		func() error { return os.Rename(p.path, d.path) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	if p.meta != "" {
		os.Remove(p.meta)
	}
	p.close()
	d.part = nil
	return nil
}

// abandon cleans up after a failed download: a part that can be continued
// is kept, with its meta file; any other file is removed.
func (d *download) abandon() {
	p := d.part
	if p == nil {
		return
	}
	if p.meta != "" && p.offset > 0 && p.m.ifRange() != "" {
		p.close()
		return
	}
	p.discard()
}

// fileMode is the mode a download gets: the target's when it exists, so
// that a refresh keeps who may read it; otherwise that of a file the
// process creates with 0666 beside it (the umask, and a default ACL,
// applied).
func fileMode(target string) (os.FileMode, error) {
	if fi, err := os.Stat(target); err == nil && fi.Mode().IsRegular() {
		return fi.Mode().Perm(), nil
	}
	return createMode(filepath.Dir(target))
}

// createMode creates an empty file in dir with mode 0666, reads the mode
// it got, and removes it: the umask cannot be read without changing it
// for the whole process, which a concurrent goroutine's file would get.
func createMode(dir string) (os.FileMode, error) {
	for range 100 {
		name := filepath.Join(dir, ".reqivo-mode-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		fi, err := f.Stat()
		f.Close()
		os.Remove(name)
		if err != nil {
			return 0, err
		}
		return fi.Mode().Perm(), nil
	}
	return 0, &fs.PathError{Op: "create", Path: dir, Err: fs.ErrExist}
}
