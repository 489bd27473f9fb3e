// Package redisstore keeps a reqivo session's shared state in Redis, so a
// fleet of processes shares one HTTP cache and one per-host rate budget.
//
// [Cache] is a [reqivo.Cache] for [reqivo.WithCache]: entries with a TTL,
// a size cap per entry, one key per entry (so it works with Redis
// Cluster), and the secret that keys credentialed entries kept in Redis
// itself, so every process using the same prefix can share them.
//
// [RateLimiter] reserves request slots per host with GCRA, atomically in
// a Lua script on the Redis clock, so N processes together hold one rate.
//
// When Redis is down, slow or hung, nothing fails: each call is bounded
// by a timeout (see [Timeout]) whatever the client's own timeouts and
// retries, and its error makes the session go to the network (the cache)
// or fall back to its local bucket (the rate limiter), and log it. After
// a failure a store answers [ErrUnavailable] at once, without calling
// Redis, for a back-off (0.5 s, doubling to 30 s), then lets one call
// probe Redis again.
package redisstore
