// Classification: the kind each failure of a request gets. Where net/http
// or crypto/tls leave a failure's type unexported, its fixed message is
// matched; classify_test.go pins each such string, so a Go release that
// changes one fails a test instead of changing a kind.

package reqivo

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
)

// classify gives err its kind.
func classify(ctx context.Context, err error) error {
	if isKind(err) {
		return err
	}
	if ctx != nil {
		if cerr := ctx.Err(); cerr != nil {
			if cause := context.Cause(ctx); cause != nil && isKind(cause) {
				return wrapKind(cause, "", joinDistinct(err, cerr))
			}
			if errors.Is(cerr, context.DeadlineExceeded) {
				return wrapKind(ErrTimeout, "", joinDistinct(err, cerr))
			}
			// Cancelled by the caller; context.Canceled stays in the chain
			// for errors.Is.
			return wrapKind(ErrCanceled, "", joinDistinct(err, cerr))
		}
	}
	var tlsRecord tls.RecordHeaderError
	var certInvalid x509.CertificateInvalidError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certVerify *tls.CertificateVerificationError
	var alert tls.AlertError
	var opErr *net.OpError
	isOp := errors.As(err, &opErr)
	switch {
	case errors.As(err, &certVerify), errors.As(err, &certInvalid), errors.As(err, &unknownAuthority),
		errors.As(err, &hostname), errors.As(err, &tlsRecord), errors.As(err, &alert):
		return wrapKind(ErrTLS, "", err)
	case isOp && (opErr.Op == "remote error" || opErr.Op == "local error"):
		// crypto/tls reports an alert over TCP as a *net.OpError with
		// these Ops (tls.AlertError is QUIC's only): the server refused
		// the handshake (a version, a cipher, a missing client
		// certificate), which no retry changes.
		return wrapKind(ErrTLS, "", err)
	}
	if isTLSHandshakeTimeout(err) {
		return wrapKind(ErrConnectTimeout, "", err)
	}
	if isOp && opErr.Op == "dial" {
		if opErr.Timeout() {
			return wrapKind(ErrConnectTimeout, "", err)
		}
		return wrapKind(ErrNetwork, "", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if strings.Contains(err.Error(), "awaiting response headers") {
			return wrapKind(ErrReadTimeout, "", err)
		}
		return wrapKind(ErrTimeout, "", err)
	}
	if malformed(err) {
		return wrapKind(ErrInvalidResponse, "", err)
	}
	// Anything else, a body cut off before its Content-Length
	// (io.ErrUnexpectedEOF) included, is the connection failing: a cut
	// body and a lost connection look the same from here.
	return wrapKind(ErrNetwork, "", err)
}

// malformed reports whether err is the server's fault: a response or body
// that does not parse, rather than a connection that failed.
func malformed(err error) bool {
	var proto textproto.ProtocolError
	var corrupt flate.CorruptInputError
	if errors.As(err, &proto) || errors.As(err, &corrupt) ||
		errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) {
		return true
	}
	msg := err.Error()
	if strings.Contains(msg, "unexpected EOF") {
		// A body (or its trailer) cut off by the connection: the wire
		// failed, not the server's syntax.
		return false
	}
	if strings.Contains(msg, "header line too long") || strings.Contains(msg, "malformed HTTP") ||
		strings.Contains(msg, "server response headers exceeded") || strings.Contains(msg, "bogus") || strings.Contains(msg, "invalid") && strings.Contains(msg, "net/http") {
		return true
	}
	// net/http's chunked reader and trailer errors are unexported; their
	// messages are fixed.
	if strings.Contains(msg, "chunk") || strings.Contains(msg, "reading trailer") {
		return true
	}
	// net/http marks a connection broken by a response it could not parse
	// (bad Content-Length, bad header line ...); a read that failed on the
	// wire is a net.Error or an EOF instead.
	var ne net.Error
	return strings.Contains(msg, "transport connection broken") && !errors.As(err, &ne) && !errors.Is(err, io.EOF)
}

func isTLSHandshakeTimeout(err error) bool {
	// net/http's tlsHandshakeTimeoutError is unexported; its message is fixed.
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && strings.Contains(err.Error(), "TLS handshake timeout")
}

// joinDistinct returns a, or a and b joined when b is not already in a's chain.
func joinDistinct(a, b error) error {
	if errors.Is(a, b) {
		return a
	}
	return errors.Join(a, b)
}
