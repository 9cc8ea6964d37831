package report

import (
	"strings"
	"testing"
)

// FuzzDecode: any bytes either decode into reports that pass the checks
// Decode promises (rendering them then cannot fail) or give an error
// naming the file; never a panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(upstreamJSON))
	f.Add([]byte("[" + upstreamJSON + "," + upstreamJSON + "]"))
	f.Add([]byte(strings.Replace(upstreamJSON, `"results": {`, `"transcribed_from": "x", "results": {`, 1)))
	if data, err := MarshalList([]*Report{sample()}, true); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"timestamp": 1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := Decode(data, "fuzz.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(es) == 0 {
			t.Fatal("no error and no reports")
		}
		SortEntries(es)
		if _, err := EntriesMarkdown(English, es); err != nil {
			t.Fatalf("EntriesMarkdown of decoded reports: %v", err)
		}
		reports := make([]*Report, len(es))
		for i, e := range es {
			reports[i] = e.Report
			if e.Runtime.Engine != "" {
				if err := e.Validate(); err != nil {
					t.Fatalf("a tokbench report that Decode accepted does not validate: %v", err)
				}
			}
		}
		if _, err := LlamaMarkdown(reports...); err != nil {
			t.Fatalf("LlamaMarkdown of decoded reports: %v", err)
		}
	})
}
