package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// testEvent is the part of a test2json event (go doc cmd/test2json)
// that benchreport uses. ImportPath is set on the build-output and
// build-fail events of Go 1.24 and later.
type testEvent struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

// marker is the ^V byte that `-test.v=test2json` test binaries put in
// front of framing lines (=== RUN, --- FAIL, PASS, ...).
const marker = 0x16

// benchText returns the plain `go test` output held in data, which is
// either a `go test -json` (test2json) stream or plain text; name is used
// in error messages. It fails when the input reports a failure or does
// not show a finished test binary.
func benchText(data []byte, name string) ([]byte, error) {
	var text []byte
	if isJSONStream(data) {
		var err error
		if text, err = joinTestEvents(data, name); err != nil {
			return nil, err
		}
	} else {
		text = stripFraming(data)
	}
	if err := checkFinished(text, name); err != nil {
		return nil, err
	}
	return text, nil
}

// isJSONStream reports whether data starts, after white space, like a
// test2json event.
func isJSONStream(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// joinTestEvents concatenates the Output of the "output" events of a
// test2json stream, in order, package by package (events of packages
// tested in parallel may interleave). test2json may cut one line of
// output over several events; concatenation restores it. It fails on
// a line that is not an event and on fail/build-fail events.
func joinTestEvents(data []byte, name string) ([]byte, error) {
	var order []string
	perPkg := map[string]*bytes.Buffer{}
	var failed []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var ev testEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("%s:%d: not a test2json event (%v); give either go test -json output or plain go test output", name, line, err)
		}
		switch ev.Action {
		case "output":
			buf, ok := perPkg[ev.Package]
			if !ok {
				buf = new(bytes.Buffer)
				perPkg[ev.Package] = buf
				order = append(order, ev.Package)
			}
			buf.WriteString(ev.Output)
		case "fail":
			what := ev.Test
			if what == "" {
				what = "package " + ev.Package
			}
			failed = append(failed, what)
		case "build-fail":
			failed = append(failed, "build of "+ev.ImportPath)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: reading test2json stream: %w", name, err)
	}
	var all []byte
	for _, pkg := range order {
		all = append(all, perPkg[pkg].Bytes()...)
	}
	if len(failed) > 0 {
		msg := fmt.Sprintf("%s: the run failed (test2json fail events: %s)", name, strings.Join(failed, ", "))
		if detail := failureDetail(stripFraming(all)); detail != "" {
			msg += ":\n" + detail
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return stripFraming(all), nil
}

// stripFraming removes the ^V markers of `-test.v=test2json` output. A
// marker at the start of a line is dropped; a marker inside a line
// starts a framing line that interrupted a partial line (test2json cuts
// there), so that framing line is moved after the completed line.
func stripFraming(data []byte) []byte {
	if bytes.IndexByte(data, marker) < 0 {
		return data
	}
	out := make([]byte, 0, len(data))
	var pending []byte // framing lines waiting for the partial line to end
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == marker {
			if len(out) == 0 || out[len(out)-1] == '\n' {
				continue // marker at line start
			}
			end := bytes.IndexByte(data[i+1:], '\n')
			if end < 0 {
				pending = append(pending, data[i+1:]...)
				break
			}
			pending = append(pending, data[i+1:i+2+end]...)
			i += 1 + end
			continue
		}
		out = append(out, c)
		if c == '\n' && len(pending) > 0 {
			out = append(out, pending...)
			pending = pending[:0]
		}
	}
	return append(out, pending...)
}

// checkFinished fails when text reports a failed test or benchmark
// ("--- FAIL", "FAIL") or lacks the "PASS" / "ok" line that a finished
// test binary prints.
func checkFinished(text []byte, name string) error {
	passed := false
	for _, line := range strings.Split(string(text), "\n") {
		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case strings.HasPrefix(trimmed, "--- FAIL"), line == "FAIL", strings.HasPrefix(line, "FAIL\t"):
			msg := fmt.Sprintf("%s: the run failed", name)
			if detail := failureDetail(text); detail != "" {
				msg += ":\n" + detail
			}
			return fmt.Errorf("%s", msg)
		case line == "PASS", strings.HasPrefix(line, "ok  \t"), strings.HasPrefix(line, "ok \t"):
			passed = true
		}
	}
	if !passed {
		return fmt.Errorf("%s: no PASS line: the go test run did not finish (interrupted or truncated output)", name)
	}
	return nil
}

// failureDetail returns the "--- FAIL" lines of text with the blocks of
// indented log lines next to them (after them in plain output, before
// them in test2json output, which reorders the report line).
func failureDetail(text []byte) string {
	lines := strings.Split(string(text), "\n")
	keep := make([]bool, len(lines))
	indented := func(i int) bool {
		return strings.HasPrefix(lines[i], "    ") && !strings.HasPrefix(strings.TrimLeft(lines[i], " "), "--- ")
	}
	for i, line := range lines {
		if !strings.HasPrefix(strings.TrimLeft(line, " "), "--- FAIL") {
			continue
		}
		keep[i] = true
		for j := i - 1; j >= 0 && indented(j); j-- {
			keep[j] = true
		}
		for j := i + 1; j < len(lines) && indented(j); j++ {
			keep[j] = true
		}
	}
	var b strings.Builder
	for i, line := range lines {
		if keep[i] {
			b.WriteString("\t" + strings.TrimSpace(line) + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
