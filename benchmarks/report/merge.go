package report

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// sourceOrder ranks model sources in merged tables.
var sourceOrder = map[string]int{"local": 0, "hf": 1, "random": 2}

// SortEntries puts entries in the order of merged tables: by model size
// (params_m), source (local, hf, random), device type and name, weight
// precision, thread count, KV cache (on first), gen_tokens, then time.
// Entries equal in all of these keep their order (a stable sort).
func SortEntries(entries []Entry) {
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i].Report, entries[j].Report
		switch {
		case a.Model.ParamsM != b.Model.ParamsM:
			return a.Model.ParamsM < b.Model.ParamsM
		case a.Model.Source != b.Model.Source:
			return sourceOrder[a.Model.Source] < sourceOrder[b.Model.Source]
		case a.Device.Type != b.Device.Type:
			return a.Device.Type < b.Device.Type
		case a.Device.Name != b.Device.Name:
			return a.Device.Name < b.Device.Name
		case a.Model.DType != b.Model.DType:
			return a.Model.DType < b.Model.DType
		case a.Runtime.GOMAXPROCS != b.Runtime.GOMAXPROCS:
			return a.Runtime.GOMAXPROCS < b.Runtime.GOMAXPROCS
		case a.Generation.UseKVCache != b.Generation.UseKVCache:
			return a.Generation.UseKVCache
		case a.Generation.GenTokens != b.Generation.GenTokens:
			return a.Generation.GenTokens < b.Generation.GenTokens
		}
		return a.Timestamp.Before(b.Timestamp)
	})
}

// EntriesMarkdown returns entries, in the order given, as upstream's
// Markdown table with the header in lang: the rows Markdown writes, the
// Device cell naming precision and threads where the entries that record
// them differ.
func EntriesMarkdown(lang Lang, entries []Entry) (string, error) {
	header, err := MarkdownHeader(lang)
	if err != nil {
		return "", err
	}
	if len(entries) == 0 {
		return "", errors.New("report: no reports for the Markdown table")
	}
	dtypes, threads := map[string]bool{}, map[int]bool{}
	for i, e := range entries {
		if e.Report == nil {
			return "", fmt.Errorf("entry %d: nil report", i)
		}
		if e.Model.DType != "" {
			dtypes[e.Model.DType] = true
		}
		if e.Runtime.GOMAXPROCS > 0 {
			threads[e.Runtime.GOMAXPROCS] = true
		}
	}
	var b strings.Builder
	b.WriteString(header + "\n" + Separator + "\n")
	for _, e := range entries {
		b.WriteString(e.markdownRow(len(dtypes) > 1, len(threads) > 1) + "\n")
	}
	return b.String(), nil
}
