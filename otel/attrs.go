// Attributes: url.full as the semantic conventions write it, an error as
// they record an exception, and the attribute sets of the metrics, made
// once per distinct set and kept with their option, so recording a
// measurement allocates nothing.

package reqivootel

import (
	"reflect"
	"strings"
	"sync"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/internal/redact"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// redacted is what the semantic conventions write for a secret in
// url.full.
const redacted = "REDACTED"

// sessionRedacted is what reqivo writes for a secret query value in the
// URLs it gives observers (see reqivo.RedactURL).
const sessionRedacted = "xxxxx"

// sensitiveQueryKeys are the query keys whose values the semantic
// conventions redact in url.full, matched case-sensitively as they say.
// The session redacts them already, with every key it deems secret
// (token, key, secret, password, signature, auth ...).
var sensitiveQueryKeys = map[string]bool{"AWSAccessKeyId": true, "Signature": true, "sig": true, "X-Goog-Signature": true}

// urlFull returns the url.full attribute of u, a URL the session redacted
// (userinfo REDACTED:REDACTED, secret query values "xxxxx", no fragment),
// written as OpenTelemetry's semantic conventions write it: the values of
// the sensitive query keys, and of those the session redacted, read
// REDACTED, the keys and the rest of the query kept.
func urlFull(u string) attribute.KeyValue {
	base, q, ok := strings.Cut(u, "?")
	if !ok || q == "" {
		return semconv.URLFull(u)
	}
	pairs := strings.Split(q, "&")
	changed := false
	for i, p := range pairs {
		k, v, hasValue := strings.Cut(p, "=")
		if hasValue && (v == sessionRedacted || sensitiveQueryKeys[k]) {
			pairs[i] = k + "=" + redacted
			changed = true
		}
	}
	if !changed {
		return semconv.URLFull(u)
	}
	return semconv.URLFull(base + "?" + strings.Join(pairs, "&"))
}

// maxSets bounds the kept sets; past it, sets are made each time. The
// attributes are of low cardinality (servers, statuses, error kinds), so
// only a client of very many hosts gets there.
const maxSets = 1024

// setKey is what a metric attribute set is made of; empty fields are left
// out of the set.
type setKey struct {
	method, host, scheme, proto, errorType string
	port, status                           int
}

func (k setKey) set() attribute.Set {
	kvs := make([]attribute.KeyValue, 0, 7)
	kvs = append(kvs,
		semconv.HTTPRequestMethodKey.String(k.method),
		semconv.ServerAddress(k.host),
		semconv.ServerPort(k.port),
		semconv.URLScheme(k.scheme))
	if k.status != 0 {
		kvs = append(kvs, semconv.HTTPResponseStatusCode(k.status))
	}
	if k.proto != "" {
		kvs = append(kvs, semconv.NetworkProtocolVersion(k.proto))
	}
	if k.errorType != "" {
		kvs = append(kvs, semconv.ErrorTypeKey.String(k.errorType))
	}
	return attribute.NewSet(kvs...)
}

// setCache keeps the attribute sets made so far. It is safe for
// concurrent use by multiple goroutines.
type setCache struct {
	mu   sync.RWMutex // guards sets
	sets map[setKey]metric.MeasurementOption
}

// get returns the option that records with the set of k.
func (c *setCache) get(k setKey) metric.MeasurementOption {
	c.mu.RLock()
	s, ok := c.sets[k]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = metric.WithAttributeSet(k.set())
	c.mu.Lock()
	if c.sets == nil {
		c.sets = map[setKey]metric.MeasurementOption{}
	}
	if len(c.sets) < maxSets {
		c.sets[k] = s
	}
	c.mu.Unlock()
	return s
}

// errorAttrs describe err, the failure a notice reports (a cache's or a
// rate store's), on its event: error.type as on the spans, and
// exception.type and exception.message as the semantic conventions
// record an exception. The message is the store's own, not one reqivo
// made: any URL in it is redacted as url.full is.
func errorAttrs(err error) []attribute.KeyValue {
	msg := redact.URLsIn(err.Error(), func(u string) string {
		return urlFull(reqivo.RedactURL(u)).Value.AsString()
	})
	return []attribute.KeyValue{
		semconv.ErrorTypeKey.String(errorType(0, err)),
		semconv.ExceptionType(typeName(err)),
		semconv.ExceptionMessage(msg),
	}
}

// typeName is the error's type with its package path, as
// OpenTelemetry's span.RecordError writes exception.type.
func typeName(err error) string {
	t := reflect.TypeOf(err)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String() // a pointer, as *url.Error
	}
	return t.PkgPath() + "." + t.Name()
}
