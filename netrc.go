// Netrc: credentials read from a .netrc file, each entry sent only to the
// exact host its machine names.

package reqivo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/reqivo/reqivo/internal/netrc"
)

// netrcEntry is one machine (or the default) of a .netrc file.
type netrcEntry struct {
	machine  string // as written; "" for the default entry
	host     string // machine as netrcHost gives it
	login    string
	password string
}

// netrcFile is a parsed .netrc: its machines in order, and the default.
type netrcFile struct {
	machines []netrcEntry
	def      *netrcEntry
}

// maxNetrcBytes bounds the file WithNetrc reads.
const maxNetrcBytes = 1 << 20

// WithNetrc reads credentials from a .netrc file at path, once, when the
// session is made; "" means $NETRC, or ~/.netrc when that is not set. With
// "" a missing file is no error (and no credentials); a path given and not
// found is an error. The file is refused with an error (ErrInvalidOption),
// as curl warns and ssh refuses a private key, when on Unix its mode lets
// group or others read or write it: chmod 600 it.
//
// A file holds "machine <host> login <user> password <secret>" entries and
// at most one "default" entry; "account" values are ignored, "macdef"
// blocks are skipped, values may be quoted ("a b" with \" and \\ escapes),
// and a '#' where a keyword is expected starts a comment to the end of the
// line.
//
// An entry's credentials go, as basic auth, only to a request whose host is
// exactly its machine (case-insensitive; not a subdomain, not a suffix, the
// port not compared), never when the request's URL or the session already
// carries credentials (userinfo, a request's own Authorization header,
// session auth or a token source, all of which win over netrc), and never
// by a redirect to another origin. The first matching machine wins. The
// default entry goes only to the base URL's host, when no machine matches
// it, and to no host when there is no base URL: a default entry would
// otherwise go to any host a request names.
func WithNetrc(path string) Option {
	return func(c *config) error {
		explicit := path != ""
		if !explicit {
			path = os.Getenv("NETRC")
			explicit = path != ""
		}
		if !explicit {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil // no home: no ~/.netrc
			}
			path = filepath.Join(home, ".netrc")
		}
		n, err := readNetrc(path)
		if err != nil {
			if !explicit && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return wrapKind(ErrInvalidOption, "netrc", err)
		}
		c.netrc = n
		return nil
	}
}

// readNetrc opens, checks and parses the file at path.
func readNetrc(path string) (*netrcFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New(quote(path) + " is not a regular file")
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o066 != 0 {
		return nil, errors.New(quote(path) + " is readable or writable by group or others (mode " +
			fi.Mode().Perm().String() + "): chmod 600 it")
	}
	if fi.Size() > maxNetrcBytes {
		return nil, errors.New(quote(path) + " is larger than 1 MiB")
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return nil, err
	}
	return parseNetrc(string(b)), nil
}

// parseNetrc parses the text of a .netrc file, each machine with the host
// it matches. It never fails.
func parseNetrc(s string) *netrcFile {
	f := netrc.Parse(s)
	n := &netrcFile{}
	for _, m := range f.Machines {
		n.machines = append(n.machines, netrcEntry{machine: m.Machine, host: netrcHost(m.Machine), login: m.Login, password: m.Password})
	}
	if d := f.Default; d != nil {
		n.def = &netrcEntry{login: d.Login, password: d.Password}
	}
	return n
}

// lookup returns the entry for host (an originOf host, lower case, no
// port); def says whether the default entry may answer.
func (n *netrcFile) lookup(host string, def bool) (netrcEntry, bool) {
	for _, e := range n.machines {
		if e.host != "" && e.host == host {
			return e, true
		}
	}
	if def && n.def != nil {
		return *n.def, true
	}
	return netrcEntry{}, false
}

// netrcHost is a machine name in the form originOf gives hosts, or "" for
// a name that is no bare host (a port, a path, userinfo): such an entry
// matches nothing.
func netrcHost(machine string) string {
	m := strings.TrimSuffix(strings.TrimPrefix(machine, "["), "]")
	if m == "" || strings.ContainsAny(m, "/@?#[] \\") {
		return ""
	}
	hostport := m
	if strings.Contains(m, ":") {
		if strings.Count(m, ":") < 2 {
			return "" // host:port
		}
		hostport = "[" + m + "]" // an IPv6 literal
	}
	u, err := parseAbsoluteURL("http://" + hostport + "/")
	if err != nil {
		return ""
	}
	return originOf(u).host
}
