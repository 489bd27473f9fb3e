// Memory cache: a Cache in process memory, least recently used first out,
// bounded in bytes.

package reqivo

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// memoryEntryOverhead is what one entry is counted for beyond its key and
// value: the list element, the map slot and the item.
const memoryEntryOverhead = 128

// memoryCache is the Cache of NewMemoryCache.
type memoryCache struct {
	max    int64
	secret []byte
	now    func() time.Time

	mu    sync.Mutex // guards the fields below
	size  int64
	items map[string]*list.Element // of *memoryItem
	lru   list.List                // most recently used at the front
}

type memoryItem struct {
	key     string
	value   []byte    // nil until Get asks for it, when a session stored decoded
	size    int64     // counted against max: itemSize of the key and the encoded value
	expires time.Time // zero: no expiry

	decoded *cacheEntry // the session's decoding of value, made once; never modified
}

// NewMemoryCache returns a Cache in memory that holds at most maxBytes
// (keys and values, plus a fixed overhead per entry), dropping the least
// recently used entries to stay under it; a value too large for it is not
// stored. maxBytes <= 0 means 64 MiB. It is safe for concurrent use by
// multiple goroutines and may be shared by several sessions (which then
// share entries, credentialed ones included, keyed by its one secret).
func NewMemoryCache(maxBytes int64) Cache {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	return &memoryCache{max: maxBytes, secret: randomSecret(), now: time.Now, items: map[string]*list.Element{}}
}

// Secret returns the cache's random secret (see CacheSecret).
func (m *memoryCache) Secret(context.Context) ([]byte, error) { return m.secret, nil }

func itemSize(key string, value []byte) int64 {
	return int64(len(key)+len(value)) + memoryEntryOverhead
}

func (m *memoryCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil, false, nil
	}
	it := el.Value.(*memoryItem)
	if !it.expires.IsZero() && !m.now().Before(it.expires) {
		m.remove(el)
		return nil, false, nil
	}
	m.lru.MoveToFront(el)
	if it.value == nil { // stored decoded by a session: encoded on first Get
		d := it.decoded
		it.value = encodeEntry(d.kind, &d.Stored, d.body)
	}
	return it.value, true, nil
}

// getEntry is Get for a session: the decoded entry, decoded on first use
// and kept. A value that does not decode is removed: ok is true and the
// entry nil then.
func (m *memoryCache) getEntry(key string) (e *cacheEntry, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil, false
	}
	it := el.Value.(*memoryItem)
	if !it.expires.IsZero() && !m.now().Before(it.expires) {
		m.remove(el)
		return nil, false
	}
	if it.decoded == nil {
		d, err := decodeEntry(it.value)
		if err != nil {
			m.remove(el)
			return nil, true
		}
		it.decoded = d
	}
	m.lru.MoveToFront(el)
	return it.decoded, true
}

func (m *memoryCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.set(key, value, ttl, nil)
	return nil
}

// set is Set for a session, which may hand over the entry value decodes
// to (decoded, nil: decoded on first use), so that it is never decoded;
// or the entry alone (value nil), encoded only if Get asks for it.
func (m *memoryCache) set(key string, value []byte, ttl time.Duration, decoded *cacheEntry) {
	size := itemSize(key, value)
	if value == nil {
		size = int64(len(key)+entryLen(&decoded.Stored, len(decoded.body))) + memoryEntryOverhead
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if size > m.max {
		if ok {
			m.remove(el)
		}
		return // too large to keep: as if evicted at once
	}
	var expires time.Time
	if ttl > 0 {
		expires = m.now().Add(ttl)
	}
	if ok {
		// Replaced in place (a refreshed entry): getEntry's callers hold
		// the entries, never the item.
		it := el.Value.(*memoryItem)
		m.size += size - it.size
		it.value, it.size, it.expires, it.decoded = value, size, expires, decoded
		m.lru.MoveToFront(el)
	} else {
		m.items[key] = m.lru.PushFront(&memoryItem{key: key, value: value, size: size, expires: expires, decoded: decoded})
		m.size += size
	}
	for m.size > m.max {
		m.remove(m.lru.Back())
	}
}

// MaxEntryBytes is the largest value the store keeps (see CacheEntryLimit).
func (m *memoryCache) MaxEntryBytes() int64 { return m.max - memoryEntryOverhead }

func (m *memoryCache) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
	return nil
}

// remove drops el; m.mu is held.
func (m *memoryCache) remove(el *list.Element) {
	it := m.lru.Remove(el).(*memoryItem)
	delete(m.items, it.key)
	m.size -= it.size
}
