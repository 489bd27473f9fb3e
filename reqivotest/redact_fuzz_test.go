package reqivotest

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/textproto"
	"testing"

	"github.com/reqivo/reqivo/internal/redact"
)

// FuzzMultipartFields builds a multipart form from fuzzed names and
// values, and checks the canonical form: it parses with the canonical
// boundary, every secret-named part reads REDACTED, every other part is
// kept, and canonicalising again changes nothing. Any body, valid or not,
// goes through without a panic.
func FuzzMultipartFields(f *testing.F) {
	f.Add("user", "ada", "password", "hunter2", []byte("--x\r\n\r\n"))
	f.Add("api_key", "k\r\n--", "file", "", []byte("junk"))
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string, junk []byte) {
		_ = multipartFields("multipart/form-data; boundary=x", junk, nil)

		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		names, values := []string{n1, n2}, []string{v1, v2}
		for i := range names {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", `form-data; name="`+escapeQuotes(names[i])+`"`)
			w, err := mw.CreatePart(h)
			if err != nil {
				return
			}
			_, _ = io.WriteString(w, values[i])
		}
		if mw.Close() != nil {
			return
		}
		got := multipartFields(mw.FormDataContentType(), b.Bytes(), nil)
		if bytes.Equal(got, b.Bytes()) {
			return // did not parse as written (a name the reader reads otherwise): kept as it is
		}
		again := multipartFields("multipart/form-data; boundary="+canonicalBoundary, got, nil)
		if !bytes.Equal(again, got) {
			t.Fatalf("not stable:\n%q\n%q", got, again)
		}
		mr := multipart.NewReader(bytes.NewReader(got), canonicalBoundary)
		for i := 0; ; i++ {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("canonical form does not parse: %v\n%q", err, got)
			}
			content, _ := io.ReadAll(p)
			if redact.IsSecretName(p.FormName()) && string(content) != redacted {
				t.Fatalf("secret part %q kept %q", p.FormName(), content)
			}
		}
	})
}

func escapeQuotes(s string) string {
	var b bytes.Buffer
	for _, c := range []byte(s) {
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
