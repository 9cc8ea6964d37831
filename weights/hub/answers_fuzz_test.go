package hub

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/weights/hub/hubtest"
)

// A fuzzed Hub: the input is a sequence of answers, served in order, one
// per request, whatever the request (HEAD, GET, revision API, CDN); once
// they are used up every request gets a bare 404. The format, so that
// seeds are readable and mutations stay meaningful:
//
//	STATUS [MODE]          MODE: stall, endless or trickle
//	Header: value          any number of header lines
//	                       a blank line
//	body                   up to the next "\n--\n"
//
// In headers and bodies, {url} is the server's URL, {commit} misCommit,
// {sha} and {sha1} the sha256 and git blob id of misData, {len} its
// length, and a body of exactly {data} or {gzdata} is misData (gzipped),
// {tail} misData from byte 1000 (what a resume asks for).

const maxFuzzAnswers = 64

type fuzzAnswer struct {
	status  int
	mode    string
	headers [][2]string
	body    []byte
}

func parseFuzzAnswers(data []byte) []fuzzAnswer {
	var out []fuzzAnswer
	for _, part := range bytes.Split(data, []byte("\n--\n")) {
		if len(out) == maxFuzzAnswers {
			break
		}
		head, body, _ := bytes.Cut(part, []byte("\n\n"))
		lines := strings.Split(string(head), "\n")
		fields := strings.Fields(lines[0])
		if len(fields) == 0 {
			continue
		}
		st, err := strconv.Atoi(fields[0])
		if err != nil || st < 100 || st > 999 {
			continue
		}
		a := fuzzAnswer{status: st, body: body}
		if len(fields) > 1 {
			a.mode = fields[1]
		}
		for _, l := range lines[1:] {
			if k, v, ok := strings.Cut(l, ":"); ok {
				a.headers = append(a.headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
			}
		}
		out = append(out, a)
	}
	return out
}

// fuzzHub serves the answers and records every size it announced.
type fuzzHub struct {
	*httptest.Server
	mu      sync.Mutex
	answers []fuzzAnswer
	next    int
	sizes   map[int64]bool // every integer X-Linked-Size or Content-Length sent
	commits map[string]bool
	release chan struct{}
	gz      []byte
}

func (h *fuzzHub) expand(s string) string {
	return strings.NewReplacer("{url}", h.URL, "{commit}", misCommit, "{sha}", hubtest.SHA256(misData),
		"{sha1}", hubtest.GitBlobSHA1(misData), "{len}", strconv.Itoa(len(misData))).Replace(s)
}

func (h *fuzzHub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.next >= len(h.answers) {
		h.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		return
	}
	a := h.answers[h.next]
	h.next++
	for _, kv := range a.headers {
		v := h.expand(kv[1])
		switch http.CanonicalHeaderKey(kv[0]) {
		case headerLinkedSize, "Content-Length":
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				h.sizes[n] = true
			}
		case headerRepoCommit:
			h.commits[v] = true
		}
		w.Header().Add(kv[0], v)
	}
	h.mu.Unlock()
	body := a.body
	switch string(body) {
	case "{data}":
		body = misData
	case "{gzdata}":
		body = h.gz
	case "{tail}":
		body = misData[1000:]
	default:
		body = []byte(h.expand(string(body)))
	}
	w.WriteHeader(a.status)
	fl, _ := w.(http.Flusher)
	switch a.mode {
	case "stall":
		w.Write(body)
		fl.Flush()
		select {
		case <-r.Context().Done():
		case <-h.release:
		}
	case "endless":
		// Bounded by the server, so that a fuzzed huge announced size
		// cannot fill the disk during fuzzing: 4 MiB at most.
		if len(body) == 0 {
			body = misData
		}
		for sent := 0; sent < 4<<20; sent += len(body) {
			if _, err := w.Write(body); err != nil {
				return
			}
		}
	case "trickle":
		for i := range body {
			if _, err := w.Write(body[i : i+1]); err != nil {
				return
			}
			fl.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-h.release:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	default:
		w.Write(body)
	}
}

// checkCacheVerified fails if the cache holds anything the client did not
// verify: a blob named by a sha256 with other content, a blob of a size
// never announced, a snapshot entry not linking to a blob, a ref that is
// not a commit the server named.
func checkCacheVerified(t *testing.T, cacheDir string, h *fuzzHub) {
	t.Helper()
	h.mu.Lock() // a stalled handler may still be running
	defer h.mu.Unlock()
	root := filepath.Join(cacheDir, "models--org--model")
	blobs, _ := os.ReadDir(filepath.Join(root, "blobs"))
	for _, e := range blobs {
		name := e.Name()
		if strings.HasSuffix(name, ".incomplete") {
			continue // only ever resumed, then verified in full
		}
		b, err := os.ReadFile(filepath.Join(root, "blobs", name))
		if err != nil {
			t.Fatalf("blob %s: %v", name, err)
		}
		if sha256Re.MatchString(name) {
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != name {
				t.Fatalf("blob %s holds content of sha256 %x", name, sum)
			}
		} else if !h.sizes[int64(len(b))] {
			t.Fatalf("blob %s has %d bytes, a size the server never announced", name, len(b))
		}
	}
	filepath.Walk(filepath.Join(root, "snapshots"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		dst, err := os.Readlink(p)
		if err != nil {
			t.Fatalf("snapshot entry %s is not a link: %v", p, err)
		}
		abs := filepath.Clean(filepath.Join(filepath.Dir(p), dst))
		if filepath.Dir(abs) != filepath.Join(root, "blobs") || strings.HasSuffix(abs, ".incomplete") || !regularFile(abs) {
			t.Fatalf("snapshot entry %s links to %s, not a verified blob", p, dst)
		}
		return nil
	})
	filepath.Walk(filepath.Join(root, "refs"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if !IsCommitHash(string(b)) || !h.commits[string(b)] {
			t.Fatalf("ref %s holds %q, not a commit the server named", p, b)
		}
		return nil
	})
}

func FuzzHubAnswers(f *testing.F) {
	lfsHead := "302\nX-Repo-Commit: {commit}\nX-Linked-Etag: \"{sha}\"\nX-Linked-Size: {len}\nLocation: {url}/cdn/{sha}\n\n"
	smallHead := "200\nX-Repo-Commit: {commit}\nETag: \"{sha1}\"\nContent-Length: {len}\n\n"
	rev := "200\nContent-Type: application/json\n\n{\"sha\": \"{commit}\"}"
	ok := "200\nContent-Length: {len}\n\n{data}"
	for _, seed := range []struct {
		op      uint8
		answers []string
	}{
		{0, []string{rev, smallHead, ok, lfsHead, ok}},
		{1, []string{lfsHead, ok}},
		{1, []string{lfsHead, "206\nContent-Range: bytes 100-65535/65536\n\n{data}"}},
		{1, []string{lfsHead, "200 endless\n\nxyz"}},
		{1, []string{"200\nX-Repo-Commit: {commit}\nETag: \"{sha1}\"\n\n", "200 endless\n\n"}},
		{0, []string{rev, smallHead, ok, "302\nX-Repo-Commit: 1111111111111111111111111111111111111111\nX-Linked-Etag: \"{sha}\"\nX-Linked-Size: {len}\nLocation: {url}/cdn/{sha}\n\n", ok}},
		{1, []string{smallHead, "200\nContent-Encoding: gzip\n\n{gzdata}"}},
		{1, []string{lfsHead, "200 trickle\nContent-Length: {len}\n\n{data}"}},
		{1, []string{lfsHead, "200 stall\nContent-Length: {len}\n\nabc"}},
		{1, []string{"503\n\n", "500\n\n", lfsHead, "502\n\n", ok}},
		{1, []string{"401\nX-Error-Code: RepoNotFound\nX-Error-Message: \u202e\n\n{\"error\": \"\\u001b[2K\"}"}},
		{6, []string{lfsHead, "416\n\n", ok}},
		{5, []string{lfsHead, "206\nContent-Range: bytes 1000-65535/65536\n\n{tail}"}},
		{3, []string{smallHead, "307\nLocation: /again\n\n", "307\nLocation: {url}/x\n\n", ok}},
	} {
		f.Add(seed.op, []byte(strings.Join(seed.answers, "\n--\n")))
	}
	gz := gzipBytes(misData)
	f.Fuzz(func(t *testing.T, op uint8, data []byte) {
		h := &fuzzHub{answers: parseFuzzAnswers(data), sizes: map[int64]bool{}, commits: map[string]bool{}, release: make(chan struct{}), gz: gz}
		h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
		defer func() {
			close(h.release)
			h.CloseClientConnections()
			h.Close()
		}()
		c := &Client{
			Endpoint:        h.URL,
			CacheDir:        t.TempDir(),
			Token:           "hf_fuzz_token",
			Warn:            io.Discard,
			ConnectTimeout:  time.Second,
			MetadataTimeout: 100 * time.Millisecond,
			ReadTimeout:     100 * time.Millisecond,
			MaxRetries:      2,
			RetryWait:       time.Millisecond,
			LockTimeout:     100 * time.Millisecond,
		}
		if op&4 != 0 {
			// A partial LFS download from an earlier run, to be resumed.
			p := filepath.Join(c.CacheDir, "models--org--model", "blobs", hubtest.SHA256(misData)+".incomplete")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, misData[:1000], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		var (
			paths []string
			err   error
		)
		switch op % 4 {
		case 0:
			var m map[string]string
			m, err = c.DownloadRepoFiles(ctx, misRepo, "main", misSmall, misFile)
			if err == nil {
				paths = []string{m[misSmall], m[misFile]}
				if filepath.Dir(m[misSmall]) != filepath.Dir(m[misFile]) {
					t.Fatalf("files of one call in two snapshots: %s, %s", m[misSmall], m[misFile])
				}
			}
		case 1:
			var p string
			p, err = c.Download(ctx, misRepo, "main", misFile)
			paths = []string{p}
		case 2:
			var p string
			p, err = c.Download(ctx, misRepo, misCommit, misFile)
			paths = []string{p}
		case 3:
			var p string
			p, err = c.Download(ctx, misRepo, "main", misSmall)
			paths = []string{p}
		}
		t.Logf("op %d, %d answers: %v", op, len(h.answers), err)
		if d := time.Since(start); d > 15*time.Second || errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			t.Fatalf("the client hung: %s, %v", d, err)
		}
		if err != nil {
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			msg := err.Error()
			if strings.Contains(msg, c.Token) {
				t.Fatalf("error shows the token: %q", msg)
			}
			for i := 0; i < len(msg); i++ {
				if msg[i] < 0x20 || msg[i] == 0x7f {
					t.Fatalf("error holds control byte %#x: %q", msg[i], msg)
				}
			}
			if len(msg) > 4000 {
				t.Fatalf("error is %d bytes", len(msg))
			}
		} else {
			for _, p := range paths {
				if !regularFile(p) {
					t.Fatalf("returned path %s is not a file", p)
				}
			}
		}
		checkCacheVerified(t, c.CacheDir, h)
	})
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
