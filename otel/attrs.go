// Metric attributes: the attribute sets of the metrics, made once per
// distinct set and kept with their option, so recording a measurement
// allocates nothing.

package reqivootel

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

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
