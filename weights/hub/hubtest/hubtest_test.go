package hubtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// noRedirect is a client that returns redirects instead of following them,
// as huggingface_hub's HEAD does.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, method, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestAddDirServesTheHubProtocol(t *testing.T) {
	cfg := []byte(`{"vocab_size": 65}`)
	weights := bytes.Repeat([]byte{1, 2, 3}, 1000)
	dir := writeDir(t, map[string][]byte{
		"config.json":       cfg,
		"model.safetensors": weights,
		"sub/notes.txt":     []byte("nested"),
		".git/HEAD":         []byte("ref: refs/heads/main"),
		".hidden":           []byte("x"),
	})
	s := NewServer()
	defer s.Close()
	commit, err := s.AddDir("LabCoreAI/tiny", dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.AddDir("LabCoreAI/tiny", dir, "v1")
	if err != nil || again != commit {
		t.Fatalf("same directory gave commit %s (err %v), want %s", again, err, commit)
	}

	// Small file: 200 with the git blob id as ETag.
	resp := do(t, "HEAD", s.URL+"/LabCoreAI/tiny/resolve/main/config.json", "")
	if resp.StatusCode != 200 || resp.Header.Get("X-Repo-Commit") != commit ||
		resp.Header.Get("ETag") != `W/"`+GitBlobSHA1(cfg)+`"` || resp.ContentLength != int64(len(cfg)) {
		t.Fatalf("HEAD config.json: %d %v", resp.StatusCode, resp.Header)
	}
	resp = do(t, "GET", s.URL+"/LabCoreAI/tiny/resolve/"+commit+"/config.json", "")
	if b := body(t, resp); !bytes.Equal(b, cfg) {
		t.Fatalf("GET config.json by commit: %q", b)
	}
	resp = do(t, "GET", s.URL+"/LabCoreAI/tiny/resolve/v1/sub/notes.txt", "")
	if b := body(t, resp); string(b) != "nested" {
		t.Fatalf("GET nested file at tag v1: %d %q", resp.StatusCode, b)
	}

	// LFS by extension: 302 to the CDN with the linked headers.
	resp = do(t, "HEAD", s.URL+"/LabCoreAI/tiny/resolve/main/model.safetensors", "")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || resp.Header.Get("X-Linked-Etag") != `"`+SHA256(weights)+`"` ||
		resp.Header.Get("X-Linked-Size") != strconv.Itoa(len(weights)) || !strings.HasPrefix(loc, s.CDNURL+"/") {
		t.Fatalf("HEAD model.safetensors: %d %v", resp.StatusCode, resp.Header)
	}
	if b := body(t, do(t, "GET", loc, "")); !bytes.Equal(b, weights) {
		t.Fatalf("CDN body differs (%d bytes)", len(b))
	}

	// Revision info lists the files; hidden ones were skipped.
	resp = do(t, "GET", s.URL+"/api/models/LabCoreAI/tiny/revision/main", "")
	var info struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
		} `json:"siblings"`
	}
	if err := json.Unmarshal(body(t, resp), &info); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sb := range info.Siblings {
		names = append(names, sb.RFilename)
	}
	if info.SHA != commit || strings.Join(names, ",") != "config.json,model.safetensors,sub/notes.txt" {
		t.Fatalf("revision info: sha %s files %v", info.SHA, names)
	}

	reqs := s.Requests()
	if len(reqs) != 6 || reqs[0].Method != "HEAD" || reqs[0].Status != 200 || reqs[4].Server != "cdn" || reqs[3].Status != 302 {
		t.Fatalf("requests: %+v", reqs)
	}
	s.ResetRequests()
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("%d requests after ResetRequests", n)
	}
}

func TestHubErrors(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddCommit("LabCoreAI/tiny", Commit("c"), map[string]File{"config.json": {Data: []byte("{}")}}, "main")
	cases := []struct {
		url, token, code string
		status           int
	}{
		{"/LabCoreAI/nope/resolve/main/config.json", "", "RepoNotFound", 401},
		{"/LabCoreAI/nope/resolve/main/config.json", "hf_x", "RepoNotFound", 404},
		{"/LabCoreAI/tiny/resolve/dev/config.json", "", "RevisionNotFound", 404},
		{"/LabCoreAI/tiny/resolve/main/missing.json", "", "EntryNotFound", 404},
		{"/api/models/LabCoreAI/tiny/revision/dev", "", "RevisionNotFound", 404},
	}
	for _, c := range cases {
		resp := do(t, "GET", s.URL+c.url, c.token)
		if resp.StatusCode != c.status || resp.Header.Get("X-Error-Code") != c.code {
			t.Errorf("%s: %d %q, want %d %q", c.url, resp.StatusCode, resp.Header.Get("X-Error-Code"), c.status, c.code)
		}
	}

	// Private: only with the token.
	if err := s.SetPrivate("LabCoreAI/tiny", true); err != nil {
		t.Fatal(err)
	}
	s.SetToken("hf_good")
	if resp := do(t, "GET", s.URL+"/LabCoreAI/tiny/resolve/main/config.json", ""); resp.StatusCode != 401 {
		t.Errorf("private repo without token: %d", resp.StatusCode)
	}
	if resp := do(t, "GET", s.URL+"/LabCoreAI/tiny/resolve/main/config.json", "hf_bad"); resp.StatusCode != 404 {
		t.Errorf("private repo with a wrong token: %d", resp.StatusCode)
	}
	if resp := do(t, "GET", s.URL+"/LabCoreAI/tiny/resolve/main/config.json", "hf_good"); resp.StatusCode != 200 {
		t.Errorf("private repo with the token: %d", resp.StatusCode)
	}
	if err := s.SetPrivate("LabCoreAI/nope", true); err == nil {
		t.Error("SetPrivate on an unknown repo: no error")
	}
	if _, err := s.AddDir("not-a-repo-id", t.TempDir()); err == nil {
		t.Error("AddDir with a bad repo id: no error")
	}
	if _, err := s.AddDir("LabCoreAI/empty", t.TempDir()); err == nil {
		t.Error("AddDir of an empty directory: no error")
	}
	if _, err := s.AddDir("LabCoreAI/gone", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("AddDir of a missing directory: no error")
	}
}

func TestLogNeverWritesTheToken(t *testing.T) {
	s := NewServer()
	defer s.Close()
	var log bytes.Buffer
	s.SetLog(&log)
	resp := do(t, "GET", s.URL+"/LabCoreAI/nope/resolve/main/config.json", "hf_secret")
	body(t, resp)
	s.Close()
	if !strings.Contains(log.String(), "hub GET /LabCoreAI/nope/resolve/main/config.json -> 404") || strings.Contains(log.String(), "hf_secret") {
		t.Fatalf("log: %q", log.String())
	}
}

func TestIsLFS(t *testing.T) {
	for name, want := range map[string]bool{"model.safetensors": true, "ckpt.PT": true, "config.json": false, "README.md": false} {
		if got := IsLFS(name, 100); got != want {
			t.Errorf("IsLFS(%q) = %v", name, got)
		}
	}
	if !IsLFS("big.json", LFSThreshold) {
		t.Error("a 10 MiB json file is not LFS")
	}
}
