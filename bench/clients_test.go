package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/carlmjohnson/requests"
	"github.com/dghubble/sling"
	resty2 "github.com/go-resty/resty/v2"
	"github.com/imroc/req/v3"
	"github.com/reqivo/reqivo"
	resty3 "resty.dev/v3"

	"github.com/reqivo/reqivo/bench/internal/fixture"
)

// client is one HTTP client library driven the way its documentation
// shows. base is "http://127.0.0.1:port"; the paths are /json, /echo and
// /blob.
type client interface {
	GetJSON(ctx context.Context, v *fixture.Object) error
	PostJSON(ctx context.Context, in, out *fixture.Object) error
	GetBlob(ctx context.Context) (int, error)
	Close()
}

// newClientFunc builds a client; pool100 raises its idle pool to 100
// connections per host, otherwise it keeps the library's defaults.
type newClientFunc func(base string, pool100 bool) (client, error)

// clients in their default order. "nethttp" (a tuned transport) is the
// reference of every ratio.
var clients = []struct {
	name string
	new  newClientFunc
}{
	{"nethttp", newNetHTTPTuned},
	{"nethttp30s", newNetHTTPTimeout},
	{"defaultclient", newDefaultClient},
	{"resty2", newResty2},
	{"resty3", newResty3},
	{"req", newReq},
	{"sling", newSling},
	{"requests", newRequests},
	{"reqivo", newReqivo},
}

func statusErr(code int) error {
	if code != http.StatusOK {
		return fmt.Errorf("status %d", code)
	}
	return nil
}

// tunedTransport is net/http's DefaultTransport with 100 idle connections
// per host (its MaxIdleConns is 100 already).
func tunedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 100
	return t
}

// ---- net/http ----

type netHTTP struct {
	c                *http.Client
	json, echo, blob string
	closeIdle        func()
}

func newNetHTTPTuned(base string, _ bool) (client, error) {
	t := tunedTransport()
	return &netHTTP{c: &http.Client{Transport: t}, json: base + "/json", echo: base + "/echo", blob: base + "/blob", closeIdle: t.CloseIdleConnections}, nil
}

// newNetHTTPTimeout is tuned net/http with the 30 s Client.Timeout that
// Reqivo has by default: the like-for-like reference for what a deadline
// on every request costs.
func newNetHTTPTimeout(base string, _ bool) (client, error) {
	t := tunedTransport()
	return &netHTTP{c: &http.Client{Transport: t, Timeout: 30 * time.Second}, json: base + "/json", echo: base + "/echo", blob: base + "/blob", closeIdle: t.CloseIdleConnections}, nil
}

// newDefaultClient is http.DefaultClient. With pool100 it is skipped: the
// only way to raise its pool is to change DefaultTransport, and that is
// tuned net/http.
func newDefaultClient(base string, pool100 bool) (client, error) {
	if pool100 {
		return nil, errSkip
	}
	t := http.DefaultTransport.(*http.Transport)
	t.CloseIdleConnections()
	return &netHTTP{c: http.DefaultClient, json: base + "/json", echo: base + "/echo", blob: base + "/blob", closeIdle: t.CloseIdleConnections}, nil
}

func (n *netHTTP) GetJSON(ctx context.Context, v *fixture.Object) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.json, nil)
	if err != nil {
		return err
	}
	resp, err := n.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := statusErr(resp.StatusCode); err != nil {
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (n *netHTTP) PostJSON(ctx context.Context, in, out *fixture.Object) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.echo, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := statusErr(resp.StatusCode); err != nil {
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (n *netHTTP) GetBlob(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.blob, nil)
	if err != nil {
		return 0, err
	}
	resp, err := n.c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := statusErr(resp.StatusCode); err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	return len(b), err
}

func (n *netHTTP) Close() { n.closeIdle() }

// ---- resty v2 ----

type resty2Client struct{ c *resty2.Client }

func newResty2(base string, pool100 bool) (client, error) {
	c := resty2.New().SetBaseURL(base)
	if pool100 {
		t, err := c.Transport()
		if err != nil {
			return nil, err
		}
		t.MaxIdleConnsPerHost = 100
	}
	return resty2Client{c}, nil
}

func (r resty2Client) GetJSON(ctx context.Context, v *fixture.Object) error {
	resp, err := r.c.R().SetContext(ctx).SetResult(v).Get("/json")
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode())
}

func (r resty2Client) PostJSON(ctx context.Context, in, out *fixture.Object) error {
	resp, err := r.c.R().SetContext(ctx).SetBody(in).SetResult(out).Post("/echo")
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode())
}

func (r resty2Client) GetBlob(ctx context.Context) (int, error) {
	resp, err := r.c.R().SetContext(ctx).Get("/blob")
	if err != nil {
		return 0, err
	}
	return len(resp.Body()), statusErr(resp.StatusCode())
}

func (r resty2Client) Close() {
	if t, err := r.c.Transport(); err == nil {
		t.CloseIdleConnections()
	}
}

// ---- resty v3 ----

type resty3Client struct{ c *resty3.Client }

func newResty3(base string, pool100 bool) (client, error) {
	var c *resty3.Client
	if pool100 {
		c = resty3.NewWithTransportSettings(&resty3.TransportSettings{MaxIdleConnsPerHost: 100})
	} else {
		c = resty3.New()
	}
	c.SetBaseURL(base)
	return resty3Client{c}, nil
}

func (r resty3Client) GetJSON(ctx context.Context, v *fixture.Object) error {
	resp, err := r.c.R().SetContext(ctx).SetResult(v).Get("/json")
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode())
}

func (r resty3Client) PostJSON(ctx context.Context, in, out *fixture.Object) error {
	resp, err := r.c.R().SetContext(ctx).SetBody(in).SetResult(out).Post("/echo")
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode())
}

func (r resty3Client) GetBlob(ctx context.Context) (int, error) {
	resp, err := r.c.R().SetContext(ctx).Get("/blob")
	if err != nil {
		return 0, err
	}
	return len(resp.Bytes()), statusErr(resp.StatusCode())
}

func (r resty3Client) Close() { r.c.Close() }

// ---- imroc/req v3 ----

type reqClient struct{ c *req.Client }

func newReq(base string, pool100 bool) (client, error) {
	c := req.C().SetBaseURL(base)
	if pool100 {
		c.GetTransport().MaxIdleConnsPerHost = 100
	}
	return reqClient{c}, nil
}

func (r reqClient) GetJSON(ctx context.Context, v *fixture.Object) error {
	resp, err := r.c.R().SetContext(ctx).SetSuccessResult(v).Get("/json")
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode)
}

func (r reqClient) PostJSON(ctx context.Context, in, out *fixture.Object) error {
	resp, err := r.c.R().SetContext(ctx).SetBody(in).SetSuccessResult(out).Post("/echo")
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode)
}

func (r reqClient) GetBlob(ctx context.Context) (int, error) {
	resp, err := r.c.R().SetContext(ctx).Get("/blob")
	if err != nil {
		return 0, err
	}
	b, err := resp.ToBytes()
	if err != nil {
		return 0, err
	}
	return len(b), statusErr(resp.StatusCode)
}

func (r reqClient) Close() { r.c.CloseIdleConnections() }

// ---- dghubble/sling ----

type slingClient struct {
	base      *sling.Sling
	closeIdle func()
}

func newSling(base string, pool100 bool) (client, error) {
	s := sling.New().Base(base + "/")
	t := http.DefaultTransport.(*http.Transport)
	if pool100 {
		t = tunedTransport()
		s = s.Client(&http.Client{Transport: t})
	}
	t.CloseIdleConnections()
	return slingClient{base: s, closeIdle: t.CloseIdleConnections}, nil
}

// Sling has no context on Receive; the benchmarks' context is Background.
func (s slingClient) GetJSON(_ context.Context, v *fixture.Object) error {
	resp, err := s.base.New().Get("json").ReceiveSuccess(v)
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode)
}

func (s slingClient) PostJSON(_ context.Context, in, out *fixture.Object) error {
	resp, err := s.base.New().Post("echo").BodyJSON(in).ReceiveSuccess(out)
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode)
}

// bytesDecoder is a sling.ResponseDecoder that reads the body whole:
// sling itself only decodes JSON or XML.
type bytesDecoder struct{}

func (bytesDecoder) Decode(resp *http.Response, v any) error {
	b, err := io.ReadAll(resp.Body)
	*v.(*[]byte) = b
	return err
}

func (s slingClient) GetBlob(_ context.Context) (int, error) {
	var b []byte
	resp, err := s.base.New().Get("blob").ResponseDecoder(bytesDecoder{}).ReceiveSuccess(&b)
	if err != nil {
		return 0, err
	}
	return len(b), statusErr(resp.StatusCode)
}

func (s slingClient) Close() { s.closeIdle() }

// ---- carlmjohnson/requests ----

type requestsClient struct {
	json, echo, blob string
	hc               *http.Client // nil: requests' default, http.DefaultClient
	closeIdle        func()
}

func newRequests(base string, pool100 bool) (client, error) {
	r := &requestsClient{json: base + "/json", echo: base + "/echo", blob: base + "/blob"}
	t := http.DefaultTransport.(*http.Transport)
	if pool100 {
		t = tunedTransport()
		r.hc = &http.Client{Transport: t}
	}
	t.CloseIdleConnections()
	r.closeIdle = t.CloseIdleConnections
	return r, nil
}

func (r *requestsClient) builder(url string) *requests.Builder {
	b := requests.URL(url)
	if r.hc != nil {
		b = b.Client(r.hc)
	}
	return b
}

func (r *requestsClient) GetJSON(ctx context.Context, v *fixture.Object) error {
	return r.builder(r.json).ToJSON(v).Fetch(ctx)
}

func (r *requestsClient) PostJSON(ctx context.Context, in, out *fixture.Object) error {
	return r.builder(r.echo).BodyJSON(in).ToJSON(out).Fetch(ctx)
}

func (r *requestsClient) GetBlob(ctx context.Context) (int, error) {
	var buf bytes.Buffer
	err := r.builder(r.blob).ToBytesBuffer(&buf).Fetch(ctx)
	return buf.Len(), err
}

func (r *requestsClient) Close() { r.closeIdle() }

// ---- Reqivo ----

type reqivoClient struct{ s *reqivo.Session }

func newReqivo(base string, pool100 bool) (client, error) {
	opts := []reqivo.Option{reqivo.WithBaseURL(base)}
	if pool100 {
		opts = append(opts, reqivo.WithLimits(reqivo.Limits{MaxIdleConnsPerHost: 100}))
	}
	s, err := reqivo.NewSession(opts...)
	if err != nil {
		return nil, err
	}
	return reqivoClient{s}, nil
}

func (r reqivoClient) GetJSON(ctx context.Context, v *fixture.Object) error {
	resp, err := r.s.Get(ctx, "json")
	if err != nil {
		return err
	}
	if err := resp.Err(); err != nil {
		return err
	}
	return resp.JSON(v)
}

func (r reqivoClient) PostJSON(ctx context.Context, in, out *fixture.Object) error {
	resp, err := r.s.Post(ctx, "echo", reqivo.JSON(in))
	if err != nil {
		return err
	}
	if err := resp.Err(); err != nil {
		return err
	}
	return resp.JSON(out)
}

func (r reqivoClient) GetBlob(ctx context.Context) (int, error) {
	resp, err := r.s.Get(ctx, "blob")
	if err != nil {
		return 0, err
	}
	return len(resp.Bytes()), resp.Err()
}

func (r reqivoClient) Close() { r.s.Close() }
