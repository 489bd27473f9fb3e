package reqivootel

import "testing"

func TestProtocolVersion(t *testing.T) {
	t.Parallel()
	for proto, want := range map[string]string{
		"":         "",
		"HTTP/1.0": "1.0",
		"HTTP/1.1": "1.1",
		"HTTP/2.0": "2",
		"HTTP/3.0": "3", // reqivoh3's responses
	} {
		if got := protocolVersion(proto); got != want {
			t.Errorf("protocolVersion(%q) = %q, want %q", proto, got, want)
		}
	}
}
