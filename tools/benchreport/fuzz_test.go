package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/labcoreai/tokbench/benchmarks/report"
)

// Bad input gives an error, never a panic, and a report only when both
// outputs could be made.
func FuzzMakeReport(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range append(files, more...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, md, _, err := makeReport("", "", report.English, bytes.NewReader(data), io.Discard)
		if err == nil && (len(doc) == 0 || md == "") {
			t.Fatalf("no error but empty output")
		}
		if err != nil && (doc != nil || md != "") {
			t.Fatalf("error %v with output", err)
		}
	})
}
