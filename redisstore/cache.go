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

// redisMaxValue is the largest string value Redis keeps (its
// proto-max-bulk-len, 512 MB unless configured otherwise).
const redisMaxValue = 512 << 20

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

// MaxEntryBytes caps one cache entry; a larger one is not stored, and a
// session stops copying a response into it as soon as it would be (see
// reqivo.CacheEntryLimit). If not set, 1 MiB; n <= 0, or over 512 MiB,
// means Redis' own limit on a value, 512 MiB.
func MaxEntryBytes(n int) Option { return func(s *settings) { s.maxEntry = n } }

// CacheStore is the Cache of Cache. It is safe for concurrent use by
// multiple goroutines.
type CacheStore struct {
	client redis.UniversalClient
	prefix string
	set    settings
	health *health

	mu       sync.Mutex // guards the fields below
	secret   []byte
	asserted time.Time // when the secret was last put back in Redis if gone
}

var (
	_ reqivo.Cache           = (*CacheStore)(nil)
	_ reqivo.CacheSecret     = (*CacheStore)(nil)
	_ reqivo.CacheEntryLimit = (*CacheStore)(nil)
)

// reassertEvery is how often a read puts the secret back in Redis if
// Redis lost it (a write always does).
const reassertEvery = time.Second

// Cache returns a reqivo.Cache that keeps entries in Redis under keys
// starting with prefix, each with the TTL the session gives it. It only
// uses single-key commands, so it works with Redis Cluster.
//
// The secret that keys the entries of requests with credentials (see
// reqivo.WithCache) is kept in Redis under prefix+"secret", made at random
// by the first process to need it (SET NX): every process with the same
// prefix shares it, and so shares credentialed entries (each only with
// the same credentials). When Redis loses it (a restart without
// persistence), the processes that hold it put it back the same way, so
// processes that join later key the same users the same. Anyone who can
// read the prefix's keys can read the secret, as they can the entries
// themselves: protect the Redis (AUTH/ACL, TLS) as you would the
// responses.
//
// Every call is bounded by the store's timeout (see Timeout), whatever
// the client's own timeouts and retries; after a failure the store
// answers ErrUnavailable at once, without calling Redis, for a back-off
// of 0.5 s doubling to 30 s while Redis stays down, then lets one call
// probe it.
func Cache(client redis.UniversalClient, prefix string, opts ...Option) *CacheStore {
	set := newSettings(opts)
	return &CacheStore{client: client, prefix: prefix, set: set, health: newHealth(set.timeout)}
}

// Get implements reqivo.Cache.
func (c *CacheStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	secret := c.secretToAssert(false)
	b, err := call(ctx, c.health, func(ctx context.Context) ([]byte, error) {
		if secret == nil {
			return c.client.Get(ctx, c.prefix+key).Bytes()
		}
		var get *redis.StringCmd
		_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			get = p.Get(ctx, c.prefix+key)
			p.SetNX(ctx, c.prefix+"secret", secret, 0)
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		return get.Bytes()
	})
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// MaxEntryBytes implements reqivo.CacheEntryLimit: the largest value the
// store keeps (see the option MaxEntryBytes).
func (c *CacheStore) MaxEntryBytes() int64 {
	if c.set.maxEntry <= 0 || c.set.maxEntry > redisMaxValue {
		return redisMaxValue
	}
	return int64(c.set.maxEntry)
}

// Set implements reqivo.Cache. A value over MaxEntryBytes is not stored
// (and any older value under key is removed).
func (c *CacheStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if int64(len(value)) > c.MaxEntryBytes() {
		return c.Delete(ctx, key)
	}
	if ttl > 0 && ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	secret := c.secretToAssert(true)
	_, err := call(ctx, c.health, func(ctx context.Context) (struct{}, error) {
		if secret == nil {
			return struct{}{}, c.client.Set(ctx, c.prefix+key, value, ttl).Err()
		}
		// One round trip: the entry, and the secret put back if Redis
		// lost it (keys of the same users must not change).
		_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, c.prefix+key, value, ttl)
			p.SetNX(ctx, c.prefix+"secret", secret, 0)
			return nil
		})
		return struct{}{}, err
	})
	return err
}

// Delete implements reqivo.Cache.
func (c *CacheStore) Delete(ctx context.Context, key string) error {
	_, err := call(ctx, c.health, func(ctx context.Context) (int64, error) {
		return c.client.Del(ctx, c.prefix+key).Result()
	})
	return err
}

// secretToAssert returns the secret to put back in Redis with the next
// command (SET NX, so a secret already there stays): on every write, and
// on a read at most once per reassertEvery; nil before the secret is
// known.
func (c *CacheStore) secretToAssert(write bool) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret == nil {
		return nil
	}
	now := c.health.now()
	if !write && now.Sub(c.asserted) < reassertEvery {
		return nil
	}
	c.asserted = now
	return c.secret
}

// Secret implements reqivo.CacheSecret: the secret shared through Redis,
// made by the first caller (SET NX) and kept in process once read.
func (c *CacheStore) Secret(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret != nil {
		return c.secret, nil
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	key := c.prefix + "secret"
	got, err := call(ctx, c.health, func(ctx context.Context) ([]byte, error) {
		if err := c.client.SetNX(ctx, key, k, 0).Err(); err != nil {
			return nil, err
		}
		return c.client.Get(ctx, key).Bytes()
	})
	if err != nil {
		return nil, err
	}
	if len(got) < 16 {
		return nil, errors.New("redisstore: cache secret in redis is too short")
	}
	c.secret, c.asserted = got, c.health.now()
	return got, nil
}
