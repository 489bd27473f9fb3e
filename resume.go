// Resume and verification of downloads: the Resume, VerifySHA256 and
// NoSync options, the part file <target>.<hash>.part with its validator
// kept beside it in <target>.<hash>.part.meta, and the Content-Range and If-Range rules that
// decide whether a part may be continued.

package reqivo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// downloadConfig is what Resume, VerifySHA256 and NoSync set.
type downloadConfig struct {
	resume bool
	noSync bool
	sha256 []byte // nil: no digest to check
}

func (rc *requestConfig) downloadOpts() *downloadConfig {
	if rc.download == nil {
		rc.download = &downloadConfig{}
	}
	return rc.download
}

// errDownloadOnly refuses Resume, VerifySHA256 and NoSync on a request that
// is not a Download, rather than let a caller believe a body was verified.
var errDownloadOnly = errorf(ErrInvalidOption, "Resume, VerifySHA256 and NoSync are options of Download only")

// Resume makes Download keep what it received of an unfinished transfer in
// a part file, <target>.<hash>.part, with the response's validator (a
// strong ETag, or a Last-Modified date) in <target>.<hash>.part.meta, and
// continue from there with
// Range and If-Range: after a retry within the call, or in a later call
// (after a failure or a crash of the process). A server that ignores the
// Range, or whose validator changed, sends the whole body, and the download
// restarts from zero. A response with no usable validator cannot be
// continued: its part is restarted (within the call) or removed (when the
// call fails). Both files are removed when the download completes. Only
// Download takes it; any other request fails with ErrInvalidOption.
//
// The hash names the whole URL, its query included (user information and
// fragment not): URLs that differ only in their query never continue each
// other's part, and a URL whose query changes from call to call (a signed
// URL signed anew) starts a new part each time.
//
// One Download at a time may resume a given target: a second one in the
// same process fails with ErrInvalidOption while the first runs.
func Resume() RequestOption {
	return func(rc *requestConfig) error {
		rc.downloadOpts().resume = true
		return nil
	}
}

// VerifySHA256 makes Download check that the complete file hashes to
// hexDigest (64 hexadecimal digits, any case). On a mismatch no file is
// left (the target keeps what it held, and a Resume part is removed) and
// the error matches ErrInvalidResponse and names the digest it got. A
// malformed hexDigest is ErrInvalidOption. Only Download takes it; any
// other request fails with ErrInvalidOption.
func VerifySHA256(hexDigest string) RequestOption {
	return func(rc *requestConfig) error {
		b, err := hex.DecodeString(hexDigest)
		if err != nil || len(b) != sha256.Size {
			return errorf(ErrInvalidOption, "VerifySHA256 wants 64 hexadecimal digits, not "+quote(truncate(hexDigest, 80)))
		}
		rc.downloadOpts().sha256 = b
		return nil
	}
}

// NoSync makes Download rename the complete file into place without
// syncing it to disk first. By default the file is synced, so that after a
// power loss or an OS crash the target holds either the old file or the
// whole new one; that sync can cost a noticeable part of a second for a
// large file. Use NoSync for scratch files that can be fetched again. Only
// Download takes it; any other request fails with ErrInvalidOption.
func NoSync() RequestOption {
	return func(rc *requestConfig) error {
		rc.downloadOpts().noSync = true
		return nil
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// partMeta is what <target>.part.meta holds: where the part came from, the
// validator to send in If-Range, and the length the server announced for
// the whole body (-1: not known).
type partMeta struct {
	Version      int    `json:"v"`
	URL          string `json:"url"` // scheme, host and path: no user information, query or fragment
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size"`
}

const partMetaVersion = 1

// maxPartMeta bounds what is read of a meta file.
const maxPartMeta = 16 << 10

// ifRange returns the validator to send in If-Range: the strong ETag, or
// else the Last-Modified date; "" when there is none.
func (m *partMeta) ifRange() string {
	if m.ETag != "" {
		return m.ETag
	}
	return m.LastModified
}

// metaFor reads the validator of a 200 (or other 2xx) response that starts
// a body from zero. A weak ETag cannot be used in If-Range (RFC 9110,
// 13.1.5), nor a Last-Modified date less than a second before the
// response's Date (it is not a strong validator, 8.8.2.2).
func metaFor(u string, resp *http.Response, size int64) partMeta {
	m := partMeta{Version: partMetaVersion, URL: u, Size: size}
	if et := resp.Header.Get("ETag"); strongETag(et) {
		m.ETag = et
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		t, err1 := http.ParseTime(lm)
		d, err2 := http.ParseTime(resp.Header.Get("Date"))
		if err1 == nil && err2 == nil && d.Sub(t) >= time.Second {
			m.LastModified = lm
		}
	}
	return m
}

// strongETag reports whether et is a well-formed strong entity tag.
func strongETag(et string) bool {
	if len(et) < 2 || et[0] != '"' || et[len(et)-1] != '"' {
		return false
	}
	return !strings.ContainsAny(et[1:len(et)-1], "\"\x00\r\n")
}

// sameValidator reports whether a 206's validators agree with m: a server
// that answered If-Range with a part of another representation is not
// trusted with the rest.
func (m *partMeta) sameValidator(h http.Header) bool {
	if m.ETag != "" {
		et := h.Get("ETag")
		return et == "" || et == m.ETag
	}
	lm := h.Get("Last-Modified")
	return lm == "" || lm == m.LastModified
}

// partURL is the URL a meta file names: u without user information, query
// or fragment (a query may hold a secret, which does not belong on disk;
// the part's name carries the hash of the whole URL, see partPath).
func partURL(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return c.String()
}

// contentRange is a parsed "Content-Range: bytes first-last/complete"
// (complete is -1 for "*"), or, for a 416, "bytes */complete" (first and
// last are -1).
type contentRange struct {
	first, last, complete int64
}

// parseContentRange parses the Content-Range of a 206 or 416 (RFC 9110,
// 14.4). It accepts only the bytes unit and consistent numbers.
func parseContentRange(v string) (contentRange, bool) {
	bad := contentRange{-1, -1, -1}
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return bad, false
	}
	rng, total, ok := strings.Cut(strings.TrimSpace(rest), "/")
	if !ok {
		return bad, false
	}
	cr := bad
	if total != "*" {
		n, ok := parseDigits(total)
		if !ok {
			return bad, false
		}
		cr.complete = n
	}
	if rng == "*" {
		return cr, cr.complete >= 0
	}
	f, l, ok := strings.Cut(rng, "-")
	if !ok {
		return bad, false
	}
	first, ok1 := parseDigits(f)
	last, ok2 := parseDigits(l)
	if !ok1 || !ok2 || last < first || cr.complete >= 0 && last >= cr.complete {
		return bad, false
	}
	cr.first, cr.last = first, last
	return cr, true
}

// parseDigits parses a non-negative decimal number without sign or spaces.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// partFile is the file a download writes: <target>.part with Resume, a
// temporary file with a random name otherwise. Either stays 0600 until it
// is renamed to the target.
type partFile struct {
	f      *os.File
	path   string
	meta   string   // path of the meta file; "" without Resume
	m      partMeta // with Resume: what the meta file says (Version 0: nothing usable)
	offset int64    // bytes of the body in the file
	unlock func()   // releases the in-process claim on the part; nil without Resume
}

// createTemp opens a new temporary file beside target.
func createTemp(target string) (*partFile, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.part")
	if err != nil {
		return nil, err
	}
	return &partFile{f: f, path: f.Name()}, nil
}

// partPath is the part file of a download of u to target:
// <target>.<hash>.part, the hash of u's scheme, host, path and query. The
// query is in, so that two resources that share a path (?id=1, ?id=2) and a
// Last-Modified date cannot be spliced into one file.
func partPath(target string, u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	sum := sha256.Sum256([]byte(c.String()))
	return target + "." + hex.EncodeToString(sum[:8]) + ".part"
}

// openPart opens the part file part (partPath) of a download to target of
// u (partURL form) and reads its meta file: the part is continued only if
// the meta file is ours, for the same URL, with a validator, and no longer
// than the size it announced. Otherwise the part is emptied.
func openPart(target, part, u string) (*partFile, error) {
	p := &partFile{path: part, meta: part + ".meta"}
	unlock, ok := claimPart(p.path)
	if !ok {
		return nil, errorf(ErrInvalidOption, "another Download is resuming "+quote(target))
	}
	f, err := os.OpenFile(p.path, os.O_RDWR|os.O_CREATE|noFollow, 0o600)
	if err != nil {
		unlock()
		return nil, err
	}
	p.f, p.unlock = f, unlock
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &fs.PathError{Op: "open", Path: p.path, Err: errors.New("not a regular file")}
	}
	if err != nil {
		p.close()
		return nil, err
	}
	m, ok := readPartMeta(p.meta)
	if ok && m.URL == u && m.ifRange() != "" && (m.Size < 0 || fi.Size() <= m.Size) {
		p.m, p.offset = m, fi.Size()
		return p, nil
	}
	if err := p.restart(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// readPartMeta reads a meta file; ok is false when it is missing, too
// large, not a regular file, not ours, or from another version. It follows
// no symbolic link and does not wait on a FIFO planted at its path.
func readPartMeta(path string) (partMeta, bool) {
	var m partMeta
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow|nonBlock, 0)
	if err != nil {
		return m, false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return m, false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPartMeta+1))
	if err != nil || len(b) > maxPartMeta || json.Unmarshal(b, &m) != nil || m.Version != partMetaVersion {
		return partMeta{}, false
	}
	// The file is on disk, where anything may have changed it: its
	// validators go into a header only if they are what metaFor keeps.
	if m.ETag != "" && !strongETag(m.ETag) {
		return partMeta{}, false
	}
	if _, err := http.ParseTime(m.LastModified); m.LastModified != "" && err != nil {
		return partMeta{}, false
	}
	return m, true
}

// restart empties the file. With Resume the meta file goes first, so that a
// crash in between leaves a part with no meta (restarted next time), never
// a validator beside another body's bytes.
func (p *partFile) restart() error {
	if p.meta != "" {
		if err := os.Remove(p.meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		p.m = partMeta{}
	}
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	p.offset = 0
	_, err := p.f.Seek(0, io.SeekStart)
	return err
}

// begin starts a body from zero whose validator is m: the file is emptied
// and, with Resume, m written to the meta file (atomically: a temporary
// file renamed) when it has a validator.
func (p *partFile) begin(m partMeta) error {
	if err := p.restart(); err != nil {
		return err
	}
	if p.meta == "" || m.ifRange() == "" {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(p.meta)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.meta)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	p.m = m
	return nil
}

// continuable reports whether the next request may ask for the rest of the
// body with Range and If-Range.
func (p *partFile) continuable() bool {
	return p.meta != "" && p.offset > 0 && p.m.ifRange() != ""
}

// seekEnd positions the file at offset, dropping anything after it.
func (p *partFile) seekEnd() error {
	if err := p.f.Truncate(p.offset); err != nil {
		return err
	}
	_, err := p.f.Seek(p.offset, io.SeekStart)
	return err
}

// verify checks the finished file: its length against the length the
// server announced for the whole body (size; -1: not known), and its
// SHA-256 digest against want (nil: no check).
func (p *partFile) verify(size int64, want []byte) error {
	if size >= 0 && p.offset != size {
		return errorf(ErrInvalidResponse, "download has "+strconv.FormatInt(p.offset, 10)+
			" bytes, the server announced "+strconv.FormatInt(size, 10))
	}
	if want == nil {
		return nil
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, p.f); err != nil {
		return err
	}
	if got := h.Sum(nil); string(got) != string(want) {
		return errorf(ErrInvalidResponse, "download's SHA-256 digest is "+hex.EncodeToString(got)+", want "+hex.EncodeToString(want))
	}
	return nil
}

// close closes the file and releases the claim on it, leaving both files.
func (p *partFile) close() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	if p.unlock != nil {
		p.unlock()
		p.unlock = nil
	}
}

// discard closes and removes the file and its meta file.
func (p *partFile) discard() {
	p.close()
	os.Remove(p.path)
	if p.meta != "" {
		os.Remove(p.meta)
	}
}

// partsInUse holds the parts a Download of this process is resuming.
var partsInUse = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// claimPart marks path as in use by one Download; ok is false when another
// holds it.
func claimPart(path string) (unlock func(), ok bool) {
	key, err := filepath.Abs(path)
	if err != nil {
		key = path
	}
	partsInUse.Lock()
	defer partsInUse.Unlock()
	if partsInUse.m[key] {
		return nil, false
	}
	partsInUse.m[key] = true
	return func() {
		partsInUse.Lock()
		delete(partsInUse.m, key)
		partsInUse.Unlock()
	}, true
}
