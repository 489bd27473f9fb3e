package reqivo

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSmokeGet(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL), WithBasicAuth("u", "p"))
	s.SetHeader("X-Test", "1")
	s.SetCookie("c", "v")
	for i := 0; i < 3; i++ {
		resp, err := s.Get(context.Background(), "/basic-auth/u/p")
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
	}
	resp, err := s.Get(context.Background(), "/cookies")
	require.NoError(t, err)
	assert.Contains(t, resp.Text(), `"c": "v"`)
	resp, err = s.Get(context.Background(), "/status/404")
	require.NoError(t, err)
	assert.Error(t, resp.Err())
	assert.Equal(t, Stats{Requests: 5, ConnsOpened: 1}, s.Stats())
}

func TestHeadWithContentLength(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBaseURL(bin.URL))
	resp, err := s.Head(context.Background(), "/bytes/100")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, resp.Bytes())
	resp, err = s.Head(context.Background(), "/head")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
}

func TestURLUserinfoIsBasicAuth(t *testing.T) {
	t.Parallel()
	bin := setupHTTPBin(t)
	s := newTestSession(t, WithBearerToken("session-token"))
	u := strings.Replace(bin.URL, "http://", "http://user:pa%20ss@", 1)
	resp, err := s.Get(context.Background(), u+"/basic-auth/user/pa%20ss")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, "userinfo in the URL wins over session auth")
	resp, err = s.Get(context.Background(), u+"/basic-auth/user/other", Header("Authorization", basicAuthHeader("user", "other")))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, "an explicit Authorization header wins over userinfo")
}
