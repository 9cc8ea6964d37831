package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/labcoreai/tokbench/benchmarks/report"
)

// FuzzVRAMSidecar feeds arbitrary sidecars to the reader, then builds the
// report of testdata/cuda.txt with what it accepted: an error or a report,
// never a panic, and never a negative or missing peak. (parseVRAM is
// loadVRAM without the file read: a disk round trip per input makes the
// engine's input minimisation take minutes.)
func FuzzVRAMSidecar(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "cuda-vram*.json"))
	if len(seeds) == 0 {
		f.Fatal("no testdata/cuda-vram*.json seeds")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"configs":{"BenchmarkGenerate/src=local/dev=cuda/kv=on/gen=64":{"peak_bytes":9223372036854775807}}}`))
	f.Add([]byte(`{"version":1,"configs":{"x":null}}`))
	f.Add([]byte(`{"version":1.0,"configs":{}} {}`))
	input, err := os.ReadFile(filepath.Join("testdata", "cuda.txt"))
	if err != nil {
		f.Fatal(err)
	}
	text, err := benchText(input, "cuda.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vram, err := parseVRAM("vram.json", data)
		if err != nil {
			if vram != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		for k, e := range vram {
			if e == nil || e.PeakBytes == nil || *e.PeakBytes < 0 {
				t.Fatalf("accepted entry %q: %+v", k, e)
			}
		}
		configs, err := parseResults(text, "cuda.txt", io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var reports []*report.Report
		for _, c := range configs {
			r, err := buildReport(c, vram[c.name], io.Discard)
			if err != nil {
				return
			}
			reports = append(reports, r)
		}
		if _, err := report.MarshalList(reports, len(reports) > 1); err != nil {
			return
		}
		report.Markdown(report.English, reports...)
	})
}
