package netrc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		machines []Entry
		def      *Entry
	}{
		{"one line", "machine a.example login u password p", []Entry{{"a.example", "u", "p"}}, nil},
		{"lines, tabs, account, order", "machine A\n\tlogin u1\n\tpassword p1\n\taccount acct\nmachine b password p2 login u2\n",
			[]Entry{{"A", "u1", "p1"}, {"b", "u2", "p2"}}, nil},
		{"first default wins", "default login anon password guest\nmachine a login u password p\ndefault login x",
			[]Entry{{"a", "u", "p"}}, &Entry{Login: "anon", Password: "guest"}},
		{"quoted", `machine a login "user name" password "p\"w\\d #x"`, []Entry{{"a", "user name", `p"w\d #x`}}, nil},
		{"comments", "# machine evil login x password y\nmachine a login u # trailing\npassword #notacomment",
			[]Entry{{"a", "u", "#notacomment"}}, nil},
		{"macdef skipped", "macdef init\nmachine evil login x password y\ncd /\n\nmachine a login u password p",
			[]Entry{{"a", "u", "p"}}, nil},
		{"macdef at end", "machine a login u password p\nmacdef m\nline", []Entry{{"a", "u", "p"}}, nil},
		{"machine without a name", "machine", nil, nil},
		{"truncated", "machine a login", []Entry{{Machine: "a"}}, nil},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := Parse(tt.in)
			assert.Equal(t, tt.machines, f.Machines)
			assert.Equal(t, tt.def, f.Default)
		})
	}
}

// FuzzParse: any text parses without a nameless machine, and quoted values
// written by a tool come back as they were, whatever they hold.
func FuzzParse(f *testing.F) {
	f.Add("machine a login u password p\ndefault login d password q", "host", "user", "pass")
	f.Add("macdef x\nmachine e login x\n\nmachine a password \"q\\\"\"", "a", "", "#p")
	f.Add("# c\nmachine", "a b", "\"", "\\")
	f.Fuzz(func(t *testing.T, text, machine, login, password string) {
		for _, e := range Parse(text).Machines {
			if e.Machine == "" {
				t.Fatalf("machine without a name in %q", text)
			}
		}
		if machine == "" {
			return
		}
		q := func(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
		got := Parse("machine " + q(machine) + " login " + q(login) + " password " + q(password) + "\n").Machines
		if len(got) != 1 || got[0] != (Entry{machine, login, password}) {
			t.Fatalf("round trip of %q %q %q: %+v", machine, login, password, got)
		}
	})
}
