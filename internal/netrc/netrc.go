// Package netrc parses .netrc files as curl and ftp read them: machine,
// default, login and password entries, "account" ignored, "macdef" blocks
// skipped, quoted values with \" and \\ escapes, and '#' comments where a
// keyword is expected. Nothing here reads a file or matches a host.
package netrc

import "strings"

// Entry is one machine (or the default) of a .netrc file.
type Entry struct {
	Machine  string // as written; "" for the default entry
	Login    string
	Password string
}

// File is a parsed .netrc: its machines in order, and the first default.
type File struct {
	Machines []Entry
	Default  *Entry // nil: none
}

// Parse parses the text of a .netrc file. Unknown words are skipped; it
// never fails.
func Parse(s string) *File {
	n := &File{}
	l := lexer{s: s}
	var cur *Entry
	flush := func() {
		if cur == nil {
			return
		}
		if cur.Machine == "" {
			if n.Default == nil {
				n.Default = cur
			}
		} else {
			n.Machines = append(n.Machines, *cur)
		}
		cur = nil
	}
	for {
		kw, ok := l.next(true)
		if !ok {
			break
		}
		switch kw {
		case "machine":
			flush()
			name, _ := l.next(false)
			cur = &Entry{Machine: name}
			if name == "" {
				cur = nil
			}
		case "default":
			flush()
			cur = &Entry{}
		case "login":
			v, _ := l.next(false)
			if cur != nil {
				cur.Login = v
			}
		case "password":
			v, _ := l.next(false)
			if cur != nil {
				cur.Password = v
			}
		case "account":
			l.next(false)
		case "macdef":
			flush()
			l.next(false) // its name
			l.skipMacro()
		}
	}
	flush()
	return n
}

// lexer splits a .netrc into words: runs of non-space bytes, or
// quoted strings with \ escapes.
type lexer struct {
	s string
	i int
}

// next returns the next word; with keyword, a '#' starting a word makes a
// comment to the end of the line.
func (l *lexer) next(keyword bool) (string, bool) {
	for {
		for l.i < len(l.s) && isSpace(l.s[l.i]) {
			l.i++
		}
		if l.i >= len(l.s) {
			return "", false
		}
		if keyword && l.s[l.i] == '#' {
			for l.i < len(l.s) && l.s[l.i] != '\n' {
				l.i++
			}
			continue
		}
		break
	}
	if l.s[l.i] == '"' {
		l.i++
		var b strings.Builder
		for l.i < len(l.s) {
			c := l.s[l.i]
			l.i++
			if c == '"' {
				break
			}
			if c == '\\' && l.i < len(l.s) {
				c = l.s[l.i]
				l.i++
			}
			b.WriteByte(c)
		}
		return b.String(), true
	}
	start := l.i
	for l.i < len(l.s) && !isSpace(l.s[l.i]) {
		l.i++
	}
	return l.s[start:l.i], true
}

// skipMacro skips a macdef body: the rest of its line and every line up to
// an empty one.
func (l *lexer) skipMacro() {
	nl := strings.IndexByte(l.s[l.i:], '\n')
	if nl < 0 {
		l.i = len(l.s)
		return
	}
	l.i += nl + 1
	for l.i < len(l.s) {
		nl := strings.IndexByte(l.s[l.i:], '\n')
		if nl < 0 {
			l.i = len(l.s)
			return
		}
		line := l.s[l.i : l.i+nl]
		l.i += nl + 1
		if strings.TrimRight(line, "\r") == "" {
			return
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
