// Rate limiter: one request rate per host shared by every process, with
// GCRA run atomically in Redis.

package redisstore

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/reqivo/reqivo"
)

var _ reqivo.RateStore = (*RateStore)(nil)

// gcra reserves one slot. KEYS[1] holds the theoretical arrival time
// (TAT, microseconds on the Redis clock). ARGV[1] is the emission interval
// and ARGV[2] the burst, both as numbers. It returns how many microseconds
// the caller must wait before sending (0: now), and moves the TAT on.
var gcra = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - interval * burst - now
if wait < 0 then wait = 0 end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return math.floor(wait)
`)

// RateStore reserves request slots in Redis. It is safe for concurrent
// use by multiple goroutines.
type RateStore struct {
	client redis.UniversalClient
	prefix string
	set    settings
	health *health
}

// RateLimiter returns a shared store for the session's rate limit
// (reqivo.RateLimit{Store: ...} with reqivo.WithRateLimit): every process using the same prefix shares
// one rate per key (a host), held by GCRA on the Redis clock. Its one key
// per host works with Redis Cluster.
func RateLimiter(client redis.UniversalClient, prefix string, opts ...Option) *RateStore {
	set := newSettings(opts)
	return &RateStore{client: client, prefix: prefix, set: set, health: newHealth(set.timeout)}
}

// Reserve takes one slot for key at rate per second with burst, and
// returns how long the caller must wait before sending (0: now). The
// slot is taken whether or not the caller waits for it. An error (Redis
// down or slow) takes nothing: the session falls back to its local
// bucket. Calls are bounded and backed off as the Cache's are (see
// Cache).
func (l *RateStore) Reserve(ctx context.Context, key string, rate float64, burst int) (time.Duration, error) {
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return 0, errors.New("redisstore: rate must be positive")
	}
	burst = max(burst, 1)
	interval := 1e6 / rate // microseconds
	us, err := call(ctx, l.health, func(ctx context.Context) (int64, error) {
		return gcra.Run(ctx, l.client, []string{l.prefix + "rate:" + key}, interval, burst).Int64()
	})
	if err != nil {
		return 0, err
	}
	return time.Duration(us) * time.Microsecond, nil
}
