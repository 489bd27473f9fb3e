// Package reqivotest tests code that uses Reqivo without a network: a
// handler served in process, a mock with expectations, recorded traffic
// replayed from a file, and waits that take no time.
//
// Every tool is a [reqivo.Option], so the constructor the code under test
// uses in production (with its pool, TLS, proxy and retry options) takes
// it as one more option, and the whole pipeline runs: headers, auth and
// cookie scoping, redirects, retries, decompression, limits, hooks. Its
// place among the options does not matter: a proxy or dialer given before
// or after it is left unused, and every request is answered in process.
//
// # Handler
//
// [Handler] answers every request from an http.Handler in process, over
// in-memory connections: as against httptest.NewServer, with no socket,
// and with https too.
//
//	s, err := api.NewClient(cfg, reqivotest.Handler(mux))
//
// # Mock
//
// [NewMock] declares routes with http.ServeMux patterns and their answers;
// a request no route matches fails the test, naming it (method, redacted
// URL, the routes it nearly matched), and returns an error. A route must be
// called (see [Route.Times] and [Route.AnyTimes]), checked when the test
// ends. [Mock.Requests] returns what reached the mock.
//
//	m := reqivotest.NewMock(t)
//	m.On("GET /users/{id}").JSON(200, user)
//	m.On("POST /orders").Reply(503, "").Reply(503, "").Reply(201, "") // in turn
//	c, err := api.NewClient(cfg, m.Option(), reqivotest.InstantWaits())
//
// # Cassette
//
// [Cassette] records a session's real traffic to a text file the first
// time (or with REQIVO_RECORD=1) and replays it afterwards with no
// network, matching requests relative to the origin (so a cassette
// recorded against an httptest server replays on any port; see
// [CassetteWith] to match the origin too). Credentials and secrets are
// redacted before anything is written, with placeholders that keep a
// replayed session working.
//
//	c, err := api.NewClient(cfg, reqivotest.Cassette(t, "testdata/orders.cassette"))
//
// # Instant waits
//
// [InstantWaits] puts the session on a virtual [Clock]: retry waits and
// Retry-After take no time. [NewClock] gives a clock whose waits a test
// can check.
package reqivotest
