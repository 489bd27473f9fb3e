// Command report reads `go test -bench` output (of several rounds) on
// stdin and prints, per scenario, the median of each metric per client and
// each client's ratio to tuned net/http ("nethttp"), then Reqivo's budget.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// metrics in the order they are printed.
var metrics = []string{"ns/op", "cpu-ns/op", "B/op", "allocs/op", "conns/1k"}

const reference = "nethttp"

type key struct{ scenario, client string }

type results struct {
	scenarios []string            // in order of appearance
	clients   map[string][]string // per scenario, in order of appearance
	values    map[key]map[string][]float64
}

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) (*results, error) {
	res := &results{clients: map[string][]string{}, values: map[key]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		scenario, client, ok := strings.Cut(name, "/")
		if !ok {
			continue
		}
		k := key{scenario, client}
		if res.values[k] == nil {
			res.values[k] = map[string][]float64{}
			if !slices.Contains(res.scenarios, scenario) {
				res.scenarios = append(res.scenarios, scenario)
			}
			res.clients[scenario] = append(res.clients[scenario], client)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res.values[k][f[i+1]] = append(res.values[k][f[i+1]], v)
		}
	}
	return res, sc.Err()
}

func median(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

func (r *results) med(scenario, client, metric string) (float64, bool) {
	return median(r.values[key{scenario, client}][metric])
}

func format(metric string, v float64) string {
	switch metric {
	case "conns/1k", "conns/burst", "peak-RSS-MiB":
		return strconv.FormatFloat(v, 'f', 1, 64)
	case "ns/op", "cpu-ns/op":
		if v >= 1e6 {
			return strconv.FormatFloat(v/1e6, 'f', 2, 64) + " ms"
		}
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + " µs"
	case "B/op":
		if v >= 1<<20 {
			return strconv.FormatFloat(v/(1<<20), 'f', 2, 64) + " MiB"
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func (r *results) table(w io.Writer, scenario string) {
	fmt.Fprintf(w, "### %s\n\n", scenario)
	fmt.Fprintln(w, "| client | time/op | client CPU/op | B/op | allocs/op | new conns/1k req | time ÷ net/http | CPU ÷ net/http | runs |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range r.clients[scenario] {
		row := []string{c}
		for _, m := range metrics {
			if v, ok := r.med(scenario, c, m); ok {
				row = append(row, format(m, v))
			} else {
				row = append(row, "")
			}
		}
		for _, m := range []string{"ns/op", "cpu-ns/op"} {
			v, ok1 := r.med(scenario, c, m)
			ref, ok2 := r.med(scenario, reference, m)
			if ok1 && ok2 && ref > 0 {
				row = append(row, strconv.FormatFloat(v/ref, 'f', 2, 64))
			} else {
				row = append(row, "")
			}
		}
		row = append(row, strconv.Itoa(len(r.values[key{scenario, c}]["ns/op"])))
		fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
	}
	fmt.Fprintln(w)
}

// budget prints Reqivo's overhead budget (issue #5) against the medians.
func (r *results) budget(w io.Writer) {
	type line struct {
		what   string
		got    string
		met    bool
		absent bool
		info   bool // shown for reference, not in the budget
	}
	var lines []line
	get := func(s, c, m string) (float64, bool) { return r.med(s, c, m) }
	for _, s := range []string{"GET", "POST"} {
		cpu, ok1 := get(s, "reqivo", "cpu-ns/op")
		ref, ok2 := get(s, reference, "cpu-ns/op")
		a, ok3 := get(s, "reqivo", "allocs/op")
		refA, ok4 := get(s, reference, "allocs/op")
		lines = append(lines,
			line{s + ": client CPU ≤ 1.05 × net/http", fmt.Sprintf("%.3f ×", cpu/ref), cpu <= 1.05*ref, !ok1 || !ok2, false},
			line{s + ": allocs ≤ net/http + 6", fmt.Sprintf("%+.0f", a-refA), a-refA <= 6, !ok3 || !ok4, false})
	}
	for _, s := range []string{"GET", "POST"} {
		cpu, ok1 := get(s, "reqivo", "cpu-ns/op")
		ref, ok2 := get(s, "nethttp30s", "cpu-ns/op")
		lines = append(lines, line{s + ": client CPU ÷ net/http with the same 30 s Client.Timeout", fmt.Sprintf("%.3f ×", cpu/ref), true, !ok1 || !ok2, true})
	}
	ns, ok1 := get("GET64", "reqivo", "ns/op")
	ref, ok2 := get("GET64", reference, "ns/op")
	lines = append(lines, line{"GET64: throughput within 5% of net/http (time ≤ 1.05 ×)", fmt.Sprintf("%.3f ×", ns/ref), ns <= 1.05*ref, !ok1 || !ok2, false})
	c, ok := get("GET64", "reqivo", "conns/1k")
	ns30, ok3 := get("GET64", "nethttp30s", "ns/op")
	lines = append(lines, line{"GET64: time ÷ net/http with the same 30 s Client.Timeout", fmt.Sprintf("%.3f ×", ns/ns30), true, !ok1 || !ok3, true})
	lines = append(lines, line{"GET64: ≤ 5 new conns / 1k requests", fmt.Sprintf("%.1f", c), c <= 5, !ok, false})
	bb, ok := get("Blob", "reqivo", "B/op")
	lines = append(lines, line{"Blob: ≤ 1.15 MiB allocated / request", format("B/op", bb), bb <= 1.15*(1<<20), !ok, false})
	as, ok1 := get("Fanout", "async", "ns/op")
	gs, ok2 := get("Fanout", "goroutines", "ns/op")
	lines = append(lines, line{"Fanout: AsyncSession ≤ 1.05 × goroutines", fmt.Sprintf("%.3f ×", as/gs), as <= 1.05*gs, !ok1 || !ok2, false})
	ws, ok3 := get("Fanout", "workers64", "ns/op")
	lines = append(lines, line{"Fanout: AsyncSession ÷ 64 workers (reference)", fmt.Sprintf("%.3f ×", as/ws), true, !ok1 || !ok3, true})

	fmt.Fprintln(w, "### Reqivo's budget")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| item | measured | |")
	fmt.Fprintln(w, "|---|--:|---|")
	for _, l := range lines {
		verdict := "met"
		switch {
		case l.absent:
			l.got, verdict = "", "not run"
		case l.info:
			verdict = "reference"
		case !l.met:
			verdict = "**not met**"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", l.what, l.got, verdict)
	}
	fmt.Fprintln(w)
}

func main() {
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if len(res.scenarios) == 0 {
		fmt.Fprintln(os.Stderr, "report: no benchmark lines on stdin")
		os.Exit(1)
	}
	fmt.Println("Medians over the runs; ratios are to tuned net/http (DefaultTransport.Clone(), 100 idle per host).")
	fmt.Println()
	h2 := false
	for _, s := range res.scenarios {
		if isH2(s) {
			res.h2Table(os.Stdout, s)
			h2 = true
		} else {
			res.table(os.Stdout, s)
		}
	}
	res.budget(os.Stdout)
	if h2 {
		res.h2Goals(os.Stdout)
	}
}

// isH2 reports whether scenario is one of the nginx ones (h2_test.go).
func isH2(scenario string) bool {
	return strings.HasPrefix(scenario, "H2") || strings.HasPrefix(scenario, "H1TLS")
}

// h2Metrics are the columns of the nginx scenarios.
var h2Metrics = []string{"MiB/s", "cpu-µs/MiB", "conns/burst", "peak-RSS-MiB", "ns/op", "B/op", "allocs/op"}

func (r *results) h2Table(w io.Writer, scenario string) {
	fmt.Fprintf(w, "### %s\n\n", scenario)
	fmt.Fprintln(w, "| client | MiB/s | client CPU µs/MiB | conns/burst | peak RSS MiB | time/op | B/op | allocs/op | MiB/s ÷ net/http | runs |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range r.clients[scenario] {
		row := []string{c}
		for _, m := range h2Metrics {
			if v, ok := r.med(scenario, c, m); ok {
				row = append(row, format(m, v))
			} else {
				row = append(row, "")
			}
		}
		v, ok1 := r.med(scenario, c, "MiB/s")
		ref, ok2 := r.med(scenario, reference, "MiB/s")
		if ok1 && ok2 && ref > 0 {
			row = append(row, strconv.FormatFloat(v/ref, 'f', 2, 64))
		} else {
			row = append(row, "")
		}
		row = append(row, strconv.Itoa(len(r.values[key{scenario, c}]["ns/op"])))
		fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
	}
	fmt.Fprintln(w)
}

// h2Goals prints the goals of issue #17 against the medians.
func (r *results) h2Goals(w io.Writer) {
	fmt.Fprintln(w, "### HTTP/2 goals")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| item | measured | |")
	fmt.Fprintln(w, "|---|--:|---|")
	row := func(what, got string, met, absent, info bool) {
		verdict := "met"
		switch {
		case absent:
			got, verdict = "", "not run"
		case info:
			verdict = "reference"
		case !met:
			verdict = "**not met**"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", what, got, verdict)
	}
	conns, ok := r.med("H2ColdBurst", "reqivo", "conns/burst")
	row("cold burst: Reqivo opens 1 connection", strconv.FormatFloat(conns, 'f', 1, 64), conns == 1, !ok, false)
	for _, c := range r.clients["H2ColdBurst"] {
		if c == "reqivo" {
			continue
		}
		v, _ := r.med("H2ColdBurst", c, "conns/burst")
		row("cold burst: "+c+" opens", strconv.FormatFloat(v, 'f', 1, 64), true, false, true)
	}
	rq, ok1 := r.med("H2Download50M", "reqivo", "MiB/s")
	nh, ok2 := r.med("H2Download50M", reference, "MiB/s")
	row("h2 download: Reqivo ≥ 1.2 × net/http's default", fmt.Sprintf("%.2f ×", rq/nh), rq >= 1.2*nh, !ok1 || !ok2, false)
	for _, c := range r.clients["H2Download50M"] {
		if c == "reqivo" || c == reference || c == "curl" {
			continue
		}
		v, _ := r.med("H2Download50M", c, "MiB/s")
		row("h2 download: Reqivo ahead of "+c, fmt.Sprintf("%.2f ×", rq/v), rq > v, !ok1, false)
	}
	h1, ok3 := r.med("H1TLSDownload50M", "reqivo", "MiB/s")
	row("h2 download ÷ Reqivo's own h1-over-TLS (stretch: 0.9)", fmt.Sprintf("%.2f ×", rq/h1), rq >= 0.9*h1, !ok1 || !ok3, false)
	c2, ok4 := r.med("H2Download50M", "curl", "MiB/s")
	c1, ok5 := r.med("H1TLSDownload50M", "curl", "MiB/s")
	row("curl: h2 ÷ h1-over-TLS", fmt.Sprintf("%.2f ×", c2/c1), true, !ok4 || !ok5, true)
	fmt.Fprintln(w)
}
