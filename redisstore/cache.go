// Cache: a reqivo.Cache in Redis.

package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/reqivo/reqivo"
)

// Defaults of the options.
const (
	DefaultTimeout       = 250 * time.Millisecond
	DefaultMaxEntryBytes = 1 << 20
)

// Option configures a Cache or a RateLimiter.
type Option func(*settings)

type settings struct {
	timeout  time.Duration
	maxEntry int
}

func newSettings(opts []Option) settings {
	s := settings{timeout: DefaultTimeout, maxEntry: DefaultMaxEntryBytes}
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	return s
}

// Timeout bounds each call to Redis, so a slow Redis delays a request by
// at most d before the session goes on without it. If not set, 250 ms;
// d <= 0 leaves calls bounded only by the client's own timeouts.
func Timeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// MaxEntryBytes caps one cache entry; a larger one is not stored. If not
// set, 1 MiB.
func MaxEntryBytes(n int) Option { return func(s *settings) { s.maxEntry = n } }

// CacheStore is the Cache of Cache. It is safe for concurrent use by
// multiple goroutines.
type CacheStore struct {
	client redis.UniversalClient
	prefix string
	set    settings

	mu     sync.Mutex // guards secret
	secret []byte
}

var (
	_ reqivo.Cache       = (*CacheStore)(nil)
	_ reqivo.CacheSecret = (*CacheStore)(nil)
)

// Cache returns a reqivo.Cache that keeps entries in Redis under keys
// starting with prefix, each with the TTL the session gives it. It only
// uses single-key commands, so it works with Redis Cluster.
//
// The secret that keys the entries of requests with credentials (see
// reqivo.WithCache) is kept in Redis under prefix+"secret", made at random
// by the first process to need it: every process with the same prefix
// shares it, and so shares credentialed entries (each only with the same
// credentials). Anyone who can read the prefix's keys can read the
// secret, as they can the entries themselves: protect the Redis
// (AUTH/ACL, TLS) as you would the responses.
func Cache(client redis.UniversalClient, prefix string, opts ...Option) *CacheStore {
	return &CacheStore{client: client, prefix: prefix, set: newSettings(opts)}
}

func (c *CacheStore) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.set.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.set.timeout)
}

// Get implements reqivo.Cache.
func (c *CacheStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	b, err := c.client.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Set implements reqivo.Cache. A value over MaxEntryBytes is not stored
// (and any older value under key is removed).
func (c *CacheStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) > c.set.maxEntry {
		return c.Delete(ctx, key)
	}
	ctx, cancel := c.bound(ctx)
	defer cancel()
	if ttl > 0 && ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	return c.client.Set(ctx, c.prefix+key, value, ttl).Err()
}

// Delete implements reqivo.Cache.
func (c *CacheStore) Delete(ctx context.Context, key string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.client.Del(ctx, c.prefix+key).Err()
}

// Secret implements reqivo.CacheSecret: the secret shared through Redis,
// made by the first caller (SET NX) and kept in process once read.
func (c *CacheStore) Secret(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret != nil {
		return c.secret, nil
	}
	ctx, cancel := c.bound(ctx)
	defer cancel()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	key := c.prefix + "secret"
	if err := c.client.SetNX(ctx, key, k, 0).Err(); err != nil {
		return nil, err
	}
	got, err := c.client.Get(ctx, key).Bytes()
	if err != nil {
		return nil, err
	}
	if len(got) < 16 {
		return nil, errors.New("redisstore: cache secret in redis is too short")
	}
	c.secret = got
	return got, nil
}
