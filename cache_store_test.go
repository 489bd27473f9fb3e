package reqivo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storeCase makes a fresh store for the tests every store must pass; now
// is its clock.
type storeCase struct {
	name string
	make func(t *testing.T, max int64, now func() time.Time) Cache
}

var storeCases = []storeCase{
	{"memory", func(t *testing.T, max int64, now func() time.Time) Cache {
		c := NewMemoryCache(max).(*memoryCache)
		c.now = now
		return c
	}},
	{"disk", func(t *testing.T, max int64, now func() time.Time) Cache {
		c, err := NewDiskCache(t.TempDir(), max)
		require.NoError(t, err)
		c.(*diskCache).now = now
		return c
	}},
}

func TestCacheStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			t.Run("set get delete", func(t *testing.T) {
				c := sc.make(t, 1<<20, time.Now)
				_, ok, err := c.Get(ctx, "k")
				require.NoError(t, err)
				assert.False(t, ok)
				require.NoError(t, c.Set(ctx, "k", []byte("v1"), 0))
				require.NoError(t, c.Set(ctx, "k", []byte("v2"), 0))
				v, ok, err := c.Get(ctx, "k")
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, "v2", string(v))
				require.NoError(t, c.Delete(ctx, "k"))
				require.NoError(t, c.Delete(ctx, "k"), "deleting a missing key is fine")
				_, ok, _ = c.Get(ctx, "k")
				assert.False(t, ok)
			})
			t.Run("ttl", func(t *testing.T) {
				var mu sync.Mutex
				now := time.Now()
				clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
				c := sc.make(t, 1<<20, clock)
				require.NoError(t, c.Set(ctx, "k", []byte("v"), time.Minute))
				_, ok, _ := c.Get(ctx, "k")
				assert.True(t, ok)
				mu.Lock()
				now = now.Add(time.Minute)
				mu.Unlock()
				_, ok, _ = c.Get(ctx, "k")
				assert.False(t, ok, "expired")
			})
			t.Run("bounded lru", func(t *testing.T) {
				c := sc.make(t, 4096, time.Now)
				val := []byte(strings.Repeat("x", 800))
				for i := range 4 {
					require.NoError(t, c.Set(ctx, fmt.Sprint("k", i), val, 0))
				}
				_, ok, _ := c.Get(ctx, "k0") // k0 is now the most recently used
				require.True(t, ok)
				require.NoError(t, c.Set(ctx, "k4", val, 0))
				require.NoError(t, c.Set(ctx, "k5", val, 0))
				_, ok, _ = c.Get(ctx, "k0")
				assert.True(t, ok, "recently used survives")
				_, ok, _ = c.Get(ctx, "k1")
				assert.False(t, ok, "least recently used goes first")
				_, ok, _ = c.Get(ctx, "k5")
				assert.True(t, ok)
				require.NoError(t, c.Set(ctx, "huge", make([]byte, 8192), 0))
				_, ok, _ = c.Get(ctx, "huge")
				assert.False(t, ok, "larger than the whole cache: not kept")
			})
			t.Run("concurrent", func(t *testing.T) {
				c := sc.make(t, 64<<10, time.Now)
				hammer(t, 8, 50, func() error {
					k := fmt.Sprint("k", time.Now().UnixNano()%16)
					if err := c.Set(ctx, k, []byte(k+strings.Repeat("v", 500)), time.Minute); err != nil {
						return err
					}
					v, ok, err := c.Get(ctx, k)
					if err != nil {
						return err
					}
					if ok && !strings.HasPrefix(string(v), k) {
						return fmt.Errorf("got %q for %s", v[:8], k)
					}
					return c.Delete(ctx, k)
				})
			})
		})
	}
}

func TestDiskCacheSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	c1, err := NewDiskCache(dir, 1<<20)
	require.NoError(t, err)
	require.NoError(t, c1.Set(ctx, "k", []byte("kept"), time.Hour))
	s1, _ := c1.(CacheSecret).Secret(ctx)

	c2, err := NewDiskCache(dir, 1<<20)
	require.NoError(t, err)
	v, ok, err := c2.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "kept", string(v))
	s2, _ := c2.(CacheSecret).Secret(ctx)
	assert.Equal(t, s1, s2, "the secret survives too, so credentialed entries stay reachable")
	assert.Len(t, s1, 32)
}

func TestDiskCacheCorruptEntryIsAMissAndRemoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, damage := range []struct {
		name string
		do   func(b []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"flipped", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"empty", func(b []byte) []byte { return nil }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := NewDiskCache(dir, 1<<20)
			require.NoError(t, err)
			require.NoError(t, c.Set(ctx, "k", []byte("value"), 0))
			path := filepath.Join(dir, fileName("k"))
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, damage.do(b), 0o600))
			_, ok, err := c.Get(ctx, "k")
			require.NoError(t, err, "corruption is a miss, not an error")
			assert.False(t, ok)
			assert.NoFileExists(t, path)
		})
	}
}

func TestDiskCacheFileModesAndLeftovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	leftover := filepath.Join(dir, diskTmpPrefix+"crashed")
	require.NoError(t, os.WriteFile(leftover, []byte("half"), 0o600))
	c, err := NewDiskCache(dir, 1<<20)
	require.NoError(t, err)
	assert.NoFileExists(t, leftover, "temp files of a crash are removed")
	require.NoError(t, c.Set(ctx, "k", []byte("v"), 0))
	for _, name := range []string{fileName("k"), diskSecret} {
		info, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}
	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Zero(t, info.Mode().Perm()&0o077, "directory closed to others")

	_, err = NewDiskCache("", 1)
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestDiskCacheBoundAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	c, err := NewDiskCache(dir, 1<<20)
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, c.Set(ctx, fmt.Sprint("k", i), make([]byte, 1000), 0))
	}
	_, err = NewDiskCache(dir, 4000) // reopened with a smaller bound
	require.NoError(t, err)
	entries, _ := filepath.Glob(filepath.Join(dir, "*"+diskSuffix))
	assert.LessOrEqual(t, len(entries), 3)
}

// TestMemoryCacheReplaceInPlace: a key stored again is replaced where it
// is (a refreshed entry), its size counted anew against the bound, and
// the decoded entry handed over with it kept; a value too large removes
// the key.
func TestMemoryCacheReplaceInPlace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := NewMemoryCache(4096).(*memoryCache)
	val := []byte(strings.Repeat("x", 800))
	for i := range 4 {
		require.NoError(t, m.Set(ctx, fmt.Sprint("k", i), val, 0))
	}
	e := &cacheEntry{kind: entryResponse}
	m.set("k3", []byte(strings.Repeat("y", 1600)), time.Minute, e)
	assert.Equal(t, itemSize("k1", val)*2+itemSize("k3", make([]byte, 1600)), m.size, "k0, least recently used, evicted")
	_, ok, _ := m.Get(ctx, "k0")
	assert.False(t, ok)
	got, ok := m.getEntry("k3")
	require.True(t, ok)
	assert.Same(t, e, got, "the entry handed over is served, not decoded again")
	v, _, _ := m.Get(ctx, "k3")
	assert.Equal(t, 1600, len(v))

	require.NoError(t, m.Set(ctx, "k3", make([]byte, 8192), 0))
	_, ok, _ = m.Get(ctx, "k3")
	assert.False(t, ok, "too large: removed")
	assert.Equal(t, itemSize("k1", val)*2, m.size)
	assert.Equal(t, 2, m.lru.Len())
}
