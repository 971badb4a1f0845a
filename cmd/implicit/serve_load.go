package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/implicitlab/implicit/internal/datasets"
)

// loadFlags are the flags of "implicit serve load".
type loadFlags struct {
	url, model, input  string
	json               bool
	duration, timeout  time.Duration
	connections, batch int
}

// The bounds of serve load's flags.
const (
	maxLoadConnections = 4096
	maxLoadBodies      = 64 // distinct request bodies, cycled
)

func newServeLoadCmd() *cobra.Command {
	var f loadFlags
	cmd := &cobra.Command{
		Use:   "load --url http://127.0.0.1:8080 --model NAME [--duration 30s] [--connections 64] [--batch 1]",
		Short: "Load-test a running implicit serve (vegeta): throughput, latency percentiles, errors, server memory",
		Long: `Load sends inference requests to a running server's POST /v2/models/{name}/infer
as fast as --connections concurrent connections allow, for --duration, with
vegeta (as a library), and reports throughput, latency percentiles, status
codes, errors and the server's memory before and after (from its /metrics).

The requests carry --batch samples each, cycled from --input (a CSV of input
rows, one sample a line) or, for a model of 64 inputs, from the embedded
digits hold-out set.`,
		Example: `  implicit serve --models internal/models &
  implicit serve load --url http://127.0.0.1:8080 --model digits --duration 30s --connections 64`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoad(cmd.Context(), cmd.OutOrStdout(), &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "http://127.0.0.1:8080", "the server's base URL")
	fl.StringVar(&f.model, "model", "digits", "the model to infer with")
	fl.StringVar(&f.input, "input", "", "input CSV, one sample a line (default: the digits hold-out set, for a model of 64 inputs)")
	fl.DurationVar(&f.duration, "duration", 30*time.Second, "how long to send requests")
	fl.IntVar(&f.connections, "connections", 64, "concurrent connections, each sending its next request when its last is answered")
	fl.IntVar(&f.batch, "batch", 1, "samples a request")
	fl.DurationVar(&f.timeout, "timeout", time.Minute, "a request's timeout on the client side")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON instead of the table")
	return cmd
}

// loadReport is serve load's report; --json writes it.
type loadReport struct {
	URL         string         `json:"url"`
	Model       string         `json:"model"`
	Batch       int            `json:"batch"`
	Connections int            `json:"connections"`
	Seconds     float64        `json:"seconds"`
	Requests    uint64         `json:"requests"`
	Throughput  float64        `json:"throughput_rps"` // successful requests a second
	Samples     float64        `json:"samples_per_second"`
	Success     float64        `json:"success_ratio"`
	LatencyMs   latencyMs      `json:"latency_ms"`
	StatusCodes map[string]int `json:"status_codes"`
	Errors      []string       `json:"errors"`
	Before      serverMemory   `json:"memory_before"`
	After       serverMemory   `json:"memory_after"`
}

type latencyMs struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// serverMemory is the server's memory as its /metrics report it.
type serverMemory struct {
	RSSBytes       float64 `json:"rss_bytes"`
	HeapInuseBytes float64 `json:"heap_inuse_bytes"`
	Goroutines     float64 `json:"goroutines"`
}

func (f *loadFlags) check() error {
	switch {
	case f.duration <= 0 || f.duration > 24*time.Hour:
		return fmt.Errorf("--duration %v: want more than 0, at most 24h", f.duration)
	case f.connections < 1 || f.connections > maxLoadConnections:
		return fmt.Errorf("--connections %d: want 1 to %d", f.connections, maxLoadConnections)
	case f.batch < 1 || f.batch > 1<<16:
		return fmt.Errorf("--batch %d: want 1 to %d", f.batch, 1<<16)
	case f.timeout <= 0:
		return fmt.Errorf("--timeout %v: want more than 0", f.timeout)
	}
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want the server's base URL, such as http://127.0.0.1:8080", f.url)
	}
	return nil
}

func runLoad(ctx context.Context, w io.Writer, f *loadFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	base := strings.TrimRight(f.url, "/")
	client := &http.Client{Timeout: 30 * time.Second}
	name, p, err := loadModelInfo(ctx, client, base, f.model)
	if err != nil {
		return err
	}
	rows, err := loadRows(f.input, p)
	if err != nil {
		return err
	}
	targets := loadTargets(base+"/v2/models/"+url.PathEscape(name)+"/infer", rows, p, f.batch)

	before, err := scrapeMemory(ctx, client, base)
	if err != nil {
		return err
	}
	atk := vegeta.NewAttacker(vegeta.Connections(f.connections), vegeta.MaxConnections(f.connections),
		vegeta.Workers(uint64(f.connections)), vegeta.MaxWorkers(uint64(f.connections)),
		vegeta.KeepAlive(true), vegeta.Timeout(f.timeout))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var m vegeta.Metrics
	for res := range atk.Attack(vegeta.NewStaticTargeter(targets...), vegeta.Rate{}, f.duration, "implicit serve load") {
		m.Add(res)
	}
	m.Close()
	if ctx.Err() != nil {
		return errInterrupted
	}
	after, err := scrapeMemory(ctx, client, base)
	if err != nil {
		return err
	}

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rep := loadReport{
		URL: base, Model: name, Batch: f.batch, Connections: f.connections, Seconds: m.Duration.Seconds(),
		Requests: m.Requests, Throughput: m.Throughput, Samples: m.Throughput * float64(f.batch), Success: m.Success,
		LatencyMs:   latencyMs{ms(m.Latencies.Mean), ms(m.Latencies.P50), ms(m.Latencies.P90), ms(m.Latencies.P99), ms(m.Latencies.Max)},
		StatusCodes: m.StatusCodes, Errors: m.Errors, Before: before, After: after,
	}
	if rep.Errors == nil {
		rep.Errors = []string{}
	}
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printLoad(w, rep)
	return nil
}

// loadModelInfo finds the model to load-test and its input count from the
// server's metadata.
func loadModelInfo(ctx context.Context, client *http.Client, base, name string) (string, int, error) {
	var md struct {
		Inputs []struct {
			Shape []int64 `json:"shape"`
		} `json:"inputs"`
		Error string `json:"error"`
	}
	status, err := getJSON(ctx, client, base+"/v2/models/"+url.PathEscape(name), &md)
	if err != nil {
		return "", 0, err
	}
	if status != http.StatusOK {
		return "", 0, fmt.Errorf("--model %s: the server answered %d: %s", name, status, md.Error)
	}
	if len(md.Inputs) != 1 || len(md.Inputs[0].Shape) != 2 || md.Inputs[0].Shape[1] < 1 {
		return "", 0, fmt.Errorf("--model %s: the server's metadata has no input of shape [-1, p]", name)
	}
	return name, int(md.Inputs[0].Shape[1]), nil
}

func getJSON(ctx context.Context, client *http.Client, u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("--url: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %d, not the protocol's JSON: %w", u, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

// loadRows reads the input rows: --input, or the digits hold-out set.
func loadRows(input string, p int) ([]float64, error) {
	if input != "" {
		x, _, err := readInputs(input, p)
		return x, err
	}
	set, err := datasets.Digits()
	if err != nil {
		return nil, err
	}
	if p != set.Features {
		return nil, fmt.Errorf("the model takes %d inputs a sample, not the digits' %d: give --input", p, set.Features)
	}
	return set.HoldOut.X, nil
}

// loadTargets makes up to maxLoadBodies request bodies of batch samples
// each, cycling over the rows.
func loadTargets(u string, rows []float64, p, batch int) []vegeta.Target {
	n := len(rows) / p
	header := http.Header{"Content-Type": {"application/json"}}
	var targets []vegeta.Target
	next := 0
	for len(targets) < maxLoadBodies && (len(targets) == 0 || next%n != 0) {
		b := fmt.Appendf(nil, `{"inputs":[{"name":"x","datatype":"FP64","shape":[%d,%d],"data":[`, batch, p)
		for s := range batch {
			for j, v := range rows[(next%n)*p : (next%n+1)*p] {
				if s > 0 || j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, v, 'g', -1, 64)
			}
			next++
		}
		b = append(b, "]}]}"...)
		targets = append(targets, vegeta.Target{Method: http.MethodPost, URL: u, Body: b, Header: header})
	}
	return targets
}

// scrapeMemory reads the server's memory from its /metrics.
func scrapeMemory(ctx context.Context, client *http.Client, base string) (serverMemory, error) {
	var mem serverMemory
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return mem, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return mem, fmt.Errorf("--url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return mem, fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return mem, fmt.Errorf("GET %s/metrics: %w", base, err)
	}
	gauge := func(name string) float64 {
		if f, ok := families[name]; ok && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
		return 0
	}
	mem = serverMemory{gauge("process_resident_memory_bytes"), gauge("go_memstats_heap_inuse_bytes"), gauge("go_goroutines")}
	if mem.HeapInuseBytes == 0 {
		return mem, errors.New("the server's /metrics report no go_memstats_heap_inuse_bytes: is it implicit serve?")
	}
	return mem, nil
}

func printLoad(w io.Writer, r loadReport) {
	mib := func(b float64) float64 { return b / (1 << 20) }
	fmt.Fprintf(w, "implicit serve load: %s, model %s, %d sample(s) a request, %d connections, %.1f s\n\n", r.URL, r.Model, r.Batch, r.Connections, r.Seconds)
	fmt.Fprintf(w, "requests     %d (%.2f%% successful)\n", r.Requests, 100*r.Success)
	fmt.Fprintf(w, "throughput   %.1f requests/s, %.1f samples/s\n", r.Throughput, r.Samples)
	fmt.Fprintf(w, "latency      mean %.2f ms, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.LatencyMs.Mean, r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.Max)
	codes := make([]string, 0, len(r.StatusCodes))
	for c, n := range r.StatusCodes {
		codes = append(codes, fmt.Sprintf("%s: %d", c, n))
	}
	fmt.Fprintf(w, "status codes %s\n", strings.Join(codes, ", "))
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "errors       %s\n", strings.Join(r.Errors, "; "))
	}
	fmt.Fprintf(w, "server RSS   %.1f MiB before, %.1f MiB after; Go heap in use %.1f → %.1f MiB; goroutines %.0f → %.0f\n",
		mib(r.Before.RSSBytes), mib(r.After.RSSBytes), mib(r.Before.HeapInuseBytes), mib(r.After.HeapInuseBytes), r.Before.Goroutines, r.After.Goroutines)
}
