// Disk cache: a Cache in a directory, one file per entry, written
// atomically, bounded in bytes, surviving restarts.

package reqivo

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Entry file layout: magic "RQD1", expiry (Unix ns, 0: none), key (uvarint
// length and bytes), value, CRC-32 (Castagnoli) of all before it.
const (
	diskMagic     = "RQD1"
	diskSuffix    = ".rqc"
	diskTmpPrefix = ".tmp-"
	diskSecret    = "secret.key"

	// diskEntryOverhead is the least an entry file holds beside its key
	// and value: magic, expiry, a one-byte key length, CRC.
	diskEntryOverhead = len(diskMagic) + 8 + 1 + 4
)

// diskCache is the Cache of NewDiskCache.
type diskCache struct {
	dir    string
	max    int64
	secret []byte
	now    func() time.Time

	mu    sync.Mutex // guards the fields below
	size  int64
	files map[string]*list.Element // of *diskItem, by file name
	lru   list.List                // most recently used at the front
}

type diskItem struct {
	name string
	size int64
}

// NewDiskCache returns a Cache that keeps its entries in dir (created
// with mode 0700 if missing; entry files are 0600), at most maxBytes of
// them (maxBytes <= 0 means 256 MiB), dropping the least recently used;
// an entry larger than the whole bound is not stored, and a session
// stops copying a response into it as soon as it would be (see
// CacheEntryLimit).
// Each entry is written to a temporary file and renamed into place, so a
// reader never sees half of one; an entry found corrupt or truncated
// (say, after a crash) is a miss and is removed. Entries survive a
// restart; the secret that keys credentialed entries is kept in dir too
// (file secret.key, 0600), so it must not be readable by anyone who may
// not read the entries. Several processes may share dir; each then keeps
// the bound only for what it knows of. It is safe for concurrent use by
// multiple goroutines.
//
// Whoever can write in dir could plant entries or swap the secret: an
// existing dir that is writable by group or others, or owned by another
// user, is refused (ErrInvalidOption), as is a secret.key readable or
// writable by them; the mode is never changed silently. A file in dir
// that is not a regular file (a symbolic link, a FIFO) is never read: it
// is a miss, and is removed.
func NewDiskCache(dir string, maxBytes int64) (Cache, error) {
	if dir == "" {
		return nil, errorf(ErrInvalidOption, "empty cache directory")
	}
	if maxBytes <= 0 {
		maxBytes = 256 << 20
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, wrapKind(ErrInvalidOption, "cache directory", err)
	}
	if err := checkDiskDir(dir); err != nil {
		return nil, wrapKind(ErrInvalidOption, "cache directory", err)
	}
	d := &diskCache{dir: dir, max: maxBytes, now: time.Now, files: map[string]*list.Element{}}
	secret, err := loadSecret(filepath.Join(dir, diskSecret))
	if err != nil {
		return nil, wrapKind(ErrInvalidOption, "cache secret", err)
	}
	d.secret = secret
	if err := d.scan(); err != nil {
		return nil, wrapKind(ErrInvalidOption, "cache directory", err)
	}
	return d, nil
}

// checkDiskDir refuses a cache directory others could write in.
func checkDiskDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New(quote(dir) + " is not a directory")
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0 {
		return errors.New(quote(dir) + " is writable by group or others (mode " +
			fi.Mode().Perm().String() + "): chmod 700 it")
	}
	if diskOwnedByOther(fi) {
		return errors.New(quote(dir) + " belongs to another user")
	}
	return nil
}

// errNotDiskFile is what openDiskFile says of a symbolic link, a FIFO or
// any other file that is not a regular one.
var errNotDiskFile = errors.New("reqivo: cache file is not a regular file")

// readDiskFile reads a cache file of at most limit bytes: never through
// a symbolic link, never waiting on a FIFO, never more than limit.
func readDiskFile(path string, limit int64) ([]byte, os.FileInfo, error) {
	if diskOpenFlags == 0 {
		// No O_NOFOLLOW here: look before opening.
		if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
			return nil, nil, errNotDiskFile
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|diskOpenFlags, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			err = errNotDiskFile // O_NOFOLLOW met a symbolic link
		}
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, errNotDiskFile
	}
	if fi.Size() > limit {
		return nil, fi, errCorruptEntry // larger than anything the cache writes
	}
	b := make([]byte, fi.Size())
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil, err
	}
	return b[:n], fi, nil // a short read is a truncated entry: its checksum fails
}

// loadSecret reads the secret at path, or makes it when there is none.
func loadSecret(path string) ([]byte, error) {
	for range 2 {
		b, fi, err := readDiskFile(path, 64)
		if err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o066 != 0 {
			return nil, errors.New(quote(path) + " is readable or writable by group or others (mode " +
				fi.Mode().Perm().String() + "): chmod 600 it")
		}
		if errors.Is(err, errNotDiskFile) {
			return nil, errors.New(quote(path) + " is not a regular file")
		}
		if err == nil && len(b) == 32 {
			return b, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errCorruptEntry) {
			return nil, err
		}
		if !errors.Is(err, fs.ErrNotExist) {
			// A secret file of the wrong size is corrupt: replace it.
			if err := os.Remove(path); err != nil {
				return nil, err
			}
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // another process made it first: read theirs
		}
		if err != nil {
			return nil, err
		}
		k := randomSecret()
		_, werr := f.Write(k)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, werr
		}
		return k, nil
	}
	return nil, errors.New("reqivo: cache secret keeps changing")
}

// scan indexes the entry files in the directory, oldest modified as least
// recently used, and removes temporary files left by a crash.
func (d *diskCache) scan() error {
	des, err := os.ReadDir(d.dir)
	if err != nil {
		return err
	}
	type found struct {
		name string
		size int64
		mod  time.Time
	}
	var fs []found
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, diskTmpPrefix) {
			_ = os.Remove(filepath.Join(d.dir, name))
			continue
		}
		if !strings.HasSuffix(name, diskSuffix) || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		fs = append(fs, found{name, info.Size(), info.ModTime()})
	}
	slices.SortFunc(fs, func(a, b found) int { return a.mod.Compare(b.mod) })
	for _, f := range fs {
		d.files[f.name] = d.lru.PushFront(&diskItem{f.name, f.size})
		d.size += f.size
	}
	d.evict()
	return nil
}

// Secret returns the secret kept in the directory (see CacheSecret).
func (d *diskCache) Secret(context.Context) ([]byte, error) { return d.secret, nil }

func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:]) + diskSuffix
}

func (d *diskCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	name := fileName(key)
	b, _, err := readDiskFile(filepath.Join(d.dir, name), d.max)
	if errors.Is(err, fs.ErrNotExist) {
		d.forget(name)
		return nil, false, nil
	}
	if errors.Is(err, errNotDiskFile) || errors.Is(err, errCorruptEntry) {
		d.drop(name) // planted, or larger than the cache ever writes
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	value, expires, ok := decodeDiskEntry(b, key)
	if !ok || !expires.IsZero() && !d.now().Before(expires) {
		d.drop(name) // corrupt, truncated, another key's or expired
		return nil, false, nil
	}
	d.mu.Lock()
	if el, ok := d.files[name]; ok {
		d.lru.MoveToFront(el)
	}
	d.mu.Unlock()
	return value, true, nil
}

// decodeDiskEntry checks an entry file and returns its value.
func decodeDiskEntry(b []byte, key string) (value []byte, expires time.Time, ok bool) {
	if len(b) < diskEntryOverhead || string(b[:4]) != diskMagic {
		return nil, time.Time{}, false
	}
	end := len(b) - 4
	if crc32.Checksum(b[:end], crcTable) != binary.BigEndian.Uint32(b[end:]) {
		return nil, time.Time{}, false
	}
	if ns := int64(binary.BigEndian.Uint64(b[4:])); ns != 0 {
		expires = time.Unix(0, ns)
	}
	rest := b[12:end]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) || string(rest[w:w+int(n)]) != key {
		return nil, time.Time{}, false
	}
	return rest[w+int(n):], expires, true
}

func (d *diskCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	var expires int64
	if ttl > 0 {
		expires = d.now().Add(ttl).UnixNano()
	}
	b := make([]byte, 0, 12+binary.MaxVarintLen64+len(key)+len(value)+4)
	b = append(b, diskMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = appendString(b, key)
	b = append(b, value...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	name := fileName(key)
	if int64(len(b)) > d.max {
		d.drop(name)
		return nil // too large to keep: as if evicted at once
	}
	f, err := os.CreateTemp(d.dir, diskTmpPrefix+"*") // mode 0600
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(d.dir, name))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetLocked(name)
	d.files[name] = d.lru.PushFront(&diskItem{name, int64(len(b))})
	d.size += int64(len(b))
	d.evict()
	return nil
}

// MaxEntryBytes is the largest value the directory keeps (see
// CacheEntryLimit): one entry file may fill the whole bound, no more; a
// value over it is never kept.
func (d *diskCache) MaxEntryBytes() int64 { return max(0, d.max-int64(diskEntryOverhead)) }

func (d *diskCache) Delete(_ context.Context, key string) error {
	name := fileName(key)
	err := os.Remove(filepath.Join(d.dir, name))
	d.forget(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// drop removes an entry file and forgets it.
func (d *diskCache) drop(name string) {
	_ = os.Remove(filepath.Join(d.dir, name))
	d.forget(name)
}

func (d *diskCache) forget(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetLocked(name)
}

func (d *diskCache) forgetLocked(name string) {
	if el, ok := d.files[name]; ok {
		it := d.lru.Remove(el).(*diskItem)
		delete(d.files, name)
		d.size -= it.size
	}
}

// evict removes the least recently used files until the cache is within
// its bound; d.mu is held.
func (d *diskCache) evict() {
	for d.size > d.max && d.lru.Len() > 0 {
		it := d.lru.Remove(d.lru.Back()).(*diskItem)
		delete(d.files, it.name)
		d.size -= it.size
		_ = os.Remove(filepath.Join(d.dir, it.name))
	}
}
