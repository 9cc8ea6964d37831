package hub

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/weights/hub/hubtest"
)

const (
	repoID   = "LabCoreAI/tiny-gpt"
	secret   = "hf_sEcReTtOkEn0123456789"
	fConfig  = "config.json"
	fTok     = "tokenizer.json"
	fWeights = "model.safetensors"
)

var threeFiles = []string{fConfig, fTok, fWeights}

type fixture struct {
	fake     *hubtest.Server
	c1, c2   string // c1: tag v1.0 ; c2: main
	files1   map[string]hubtest.File
	files2   map[string]hubtest.File
	log      *syncBuffer
	cacheDir string
}

// syncBuffer is a goroutine-safe bytes.Buffer for Log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newFakeHub starts a hubtest Hub closed at the end of the test.
func newFakeHub(t *testing.T) *hubtest.Server {
	t.Helper()
	s := hubtest.NewServer()
	t.Cleanup(s.Close)
	return s
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{fake: newFakeHub(t), c1: hubtest.Commit("one"), c2: hubtest.Commit("two"), log: &syncBuffer{}, cacheDir: t.TempDir()}
	fx.files1 = map[string]hubtest.File{
		fConfig:  {Data: []byte(`{"vocab_size": 65, "n_layer": 2}`)},
		fTok:     {Data: []byte(`{"type": "char", "vocab": ["a","b"]}`)},
		fWeights: {Data: randomBytes(200_000, 1), LFS: true},
	}
	fx.files2 = map[string]hubtest.File{
		fConfig:  {Data: []byte(`{"vocab_size": 65, "n_layer": 4}`)},
		fTok:     fx.files1[fTok],
		fWeights: {Data: randomBytes(300_000, 2), LFS: true},
	}
	fx.fake.AddCommit(repoID, fx.c1, fx.files1, "v1.0")
	fx.fake.AddCommit(repoID, fx.c2, fx.files2, "main", "refs/pr/1")
	return fx
}

func (fx *fixture) client() *Client {
	return &Client{
		Endpoint:        fx.fake.URL + "/",
		CacheDir:        fx.cacheDir,
		Log:             fx.log,
		Warn:            fx.log,
		MetadataTimeout: 5 * time.Second,
		ReadTimeout:     5 * time.Second,
	}
}

func (fx *fixture) repoDir() string { return filepath.Join(fx.cacheDir, "models--LabCoreAI--tiny-gpt") }

func etagOf(ff hubtest.File) string {
	if ff.LFS {
		return hubtest.SHA256(ff.Data)
	}
	return hubtest.GitBlobSHA1(ff.Data)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func mustKind(t *testing.T, err, kind error, wants ...string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v error, got nil", kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("want kind %v, got %v", kind, err)
	}
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("error %v is not *Error", err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error leaks the token: %q", err)
	}
	return he
}

// checkSnapshot asserts the huggingface_hub layout for one file.
func (fx *fixture) checkSnapshot(t *testing.T, commit, name, got string, ff hubtest.File) {
	t.Helper()
	want := filepath.Join(fx.repoDir(), "snapshots", commit, name)
	if got != want {
		t.Errorf("%s: path %s, want %s", name, got, want)
	}
	target, err := os.Readlink(want)
	if err != nil {
		t.Fatalf("%s: snapshot entry is not a symlink: %v", name, err)
	}
	if wantT := "../../blobs/" + etagOf(ff); target != wantT {
		t.Errorf("%s: symlink target %q, want %q", name, target, wantT)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, ff.Data) {
		t.Errorf("%s: content differs (%d bytes, want %d)", name, len(b), len(ff.Data))
	}
}

func TestFreshDownloadLayout(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	ctx := context.Background()

	p, err := c.Download(ctx, repoID, "main", fWeights)
	if err != nil {
		t.Fatal(err)
	}
	fx.checkSnapshot(t, fx.c2, fWeights, p, fx.files2[fWeights])
	reqs := fx.fake.Requests()
	if len(reqs) != 2 || reqs[0].Method != "HEAD" || reqs[0].Server != "hub" || reqs[1].Server != "cdn" || reqs[1].Method != "GET" {
		t.Errorf("requests %+v, want HEAD on hub then GET on cdn", reqs)
	}

	paths, err := c.DownloadRepoFiles(ctx, repoID, "", threeFiles...)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range threeFiles {
		fx.checkSnapshot(t, fx.c2, name, paths[name], fx.files2[name])
	}
	var wantBlobs []string
	for _, ff := range fx.files2 {
		wantBlobs = append(wantBlobs, etagOf(ff))
	}
	sort.Strings(wantBlobs)
	if got := listDir(t, filepath.Join(fx.repoDir(), "blobs")); strings.Join(got, ",") != strings.Join(wantBlobs, ",") {
		t.Errorf("blobs %v, want %v", got, wantBlobs)
	}
	ref, err := os.ReadFile(filepath.Join(fx.repoDir(), "refs", "main"))
	if err != nil || string(ref) != fx.c2 {
		t.Errorf("refs/main = %q (%v), want %s", ref, err, fx.c2)
	}
	if got := listDir(t, filepath.Join(fx.repoDir(), "snapshots")); len(got) != 1 || got[0] != fx.c2 {
		t.Errorf("snapshots %v, want [%s]", got, fx.c2)
	}
	if !strings.Contains(fx.log.String(), "HEAD "+fx.fake.URL+"/"+repoID+"/resolve/main/"+fWeights) {
		t.Errorf("log does not show the HEAD request:\n%s", fx.log)
	}
	if strings.Contains(fx.log.String(), "cdnsecret") {
		t.Errorf("log shows the CDN signature:\n%s", fx.log)
	}
}

func TestSecondRunServedFromCache(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	ctx := context.Background()
	if _, err := c.DownloadRepoFiles(ctx, repoID, "main", threeFiles...); err != nil {
		t.Fatal(err)
	}

	// Commit revision, cached: no request at all.
	fx.fake.ResetRequests()
	for _, name := range threeFiles {
		p, err := c.Download(ctx, repoID, fx.c2, name)
		if err != nil {
			t.Fatal(err)
		}
		fx.checkSnapshot(t, fx.c2, name, p, fx.files2[name])
	}
	if _, err := c.DownloadRepoFiles(ctx, repoID, fx.c2, threeFiles...); err != nil {
		t.Fatal(err)
	}
	if reqs := fx.fake.Requests(); len(reqs) != 0 {
		t.Errorf("commit revision from cache made requests: %+v", reqs)
	}

	// Branch: one HEAD per file, as huggingface_hub, and no content.
	fx.fake.ResetRequests()
	for _, name := range threeFiles {
		if _, err := c.Download(ctx, repoID, "main", name); err != nil {
			t.Fatal(err)
		}
	}
	reqs := fx.fake.Requests()
	if len(reqs) != 3 {
		t.Errorf("branch from cache: %d requests %+v, want 3 HEADs", len(reqs), reqs)
	}
	for _, r := range reqs {
		if r.Method != "HEAD" {
			t.Errorf("branch from cache made a %s request to %s", r.Method, r.Path)
		}
	}

	// DownloadRepoFiles with a branch: one revision lookup only.
	fx.fake.ResetRequests()
	if _, err := c.DownloadRepoFiles(ctx, repoID, "main", threeFiles...); err != nil {
		t.Fatal(err)
	}
	reqs = fx.fake.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/api/models/"+repoID+"/revision/main" {
		t.Errorf("DownloadRepoFiles(main) from cache: %+v, want one revision lookup", reqs)
	}

	// A branch that moved: new commit, only changed blobs fetched.
	fx.fake.AddCommit(repoID, hubtest.Commit("three"), map[string]hubtest.File{
		fConfig: fx.files2[fConfig], fTok: fx.files2[fTok], fWeights: {Data: randomBytes(1000, 3), LFS: true},
	}, "main")
	fx.fake.ResetRequests()
	paths, err := c.DownloadRepoFiles(ctx, repoID, "main", threeFiles...)
	if err != nil {
		t.Fatal(err)
	}
	gets := 0
	for _, r := range fx.fake.Requests() {
		if r.Method == "GET" && !strings.HasPrefix(r.Path, "/api/") {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("after the branch moved, %d content GETs, want 1 (only the changed file): %+v", gets, fx.fake.Requests())
	}
	if !strings.Contains(paths[fConfig], hubtest.Commit("three")) {
		t.Errorf("config path %s is not in the new commit's snapshot", paths[fConfig])
	}
	if ref, _ := os.ReadFile(filepath.Join(fx.repoDir(), "refs", "main")); string(ref) != hubtest.Commit("three") {
		t.Errorf("refs/main = %s after the branch moved", ref)
	}
}

func TestOffline(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if _, err := fx.client().DownloadRepoFiles(ctx, repoID, "main", threeFiles...); err != nil {
		t.Fatal(err)
	}
	fx.fake.ResetRequests()
	c := fx.client()
	c.Offline = true
	for _, rev := range []string{"main", fx.c2} {
		paths, err := c.DownloadRepoFiles(ctx, repoID, rev, threeFiles...)
		if err != nil {
			t.Fatalf("offline %s: %v", rev, err)
		}
		for _, name := range threeFiles {
			fx.checkSnapshot(t, fx.c2, name, paths[name], fx.files2[name])
		}
	}
	if reqs := fx.fake.Requests(); len(reqs) != 0 {
		t.Errorf("offline mode made requests: %+v", reqs)
	}

	_, err := c.Download(ctx, repoID, "v1.0", fConfig)
	mustKind(t, err, ErrNotCached, "offline", repoID, "v1.0", fConfig, filepath.Join(fx.repoDir(), "refs", "v1.0"))
	_, err = c.Download(ctx, repoID, fx.c1, fConfig)
	mustKind(t, err, ErrNotCached, "offline", filepath.Join(fx.repoDir(), "snapshots", fx.c1, fConfig))
	_, err = c.Download(ctx, "other/repo", "main", fConfig)
	mustKind(t, err, ErrNotCached, "models--other--repo")
	if reqs := fx.fake.Requests(); len(reqs) != 0 {
		t.Errorf("offline mode made requests: %+v", reqs)
	}
}

func TestRevisionBranchTagCommit(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	ctx := context.Background()

	p, err := c.Download(ctx, repoID, "v1.0", fConfig)
	if err != nil {
		t.Fatal(err)
	}
	fx.checkSnapshot(t, fx.c1, fConfig, p, fx.files1[fConfig])

	p, err = c.Download(ctx, repoID, fx.c1, fWeights)
	if err != nil {
		t.Fatal(err)
	}
	fx.checkSnapshot(t, fx.c1, fWeights, p, fx.files1[fWeights])

	// A revision with slashes travels as one escaped URL segment and is
	// recorded as nested refs, like huggingface_hub.
	paths, err := c.DownloadRepoFiles(ctx, repoID, "refs/pr/1", fConfig)
	if err != nil {
		t.Fatal(err)
	}
	fx.checkSnapshot(t, fx.c2, fConfig, paths[fConfig], fx.files2[fConfig])
	found := false
	for _, r := range fx.fake.Requests() {
		if r.Path == "/api/models/"+repoID+"/revision/refs%2Fpr%2F1" {
			found = true
		}
	}
	if !found {
		t.Errorf("refs/pr/1 not sent escaped: %+v", fx.fake.Requests())
	}
	if _, err := c.Download(ctx, repoID, "refs/pr/1", fTok); err != nil {
		t.Fatal(err)
	}

	refs := map[string]string{}
	filepath.WalkDir(filepath.Join(fx.repoDir(), "refs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(filepath.Join(fx.repoDir(), "refs"), p)
			refs[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	want := map[string]string{"v1.0": fx.c1, "refs/pr/1": fx.c2}
	if len(refs) != len(want) || refs["v1.0"] != fx.c1 || refs["refs/pr/1"] != fx.c2 {
		t.Errorf("refs %v, want %v (no ref for a commit revision)", refs, want)
	}
}

func TestHubErrors(t *testing.T) {
	fx := newFixture(t)
	fx.fake.AddCommit("LabCoreAI/private", hubtest.Commit("p"), map[string]hubtest.File{fConfig: {Data: []byte("{}")}}, "main")
	mustOK(t, fx.fake.SetPrivate("LabCoreAI/private", true))
	fx.fake.AddCommit("LabCoreAI/gated", hubtest.Commit("g"), map[string]hubtest.File{fConfig: {Data: []byte("{}")}}, "main")
	mustOK(t, fx.fake.SetGated("LabCoreAI/gated", true))
	fx.fake.SetToken(secret)
	c := fx.client()
	ctx := context.Background()

	_, err := c.Download(ctx, "LabCoreAI/nope", "main", fConfig)
	he := mustKind(t, err, ErrRepoNotFound, "LabCoreAI/nope", "HF_TOKEN", "private", fx.fake.URL+"/LabCoreAI/nope/resolve/main/config.json")
	if he.Status != 401 {
		t.Errorf("status %d, want 401", he.Status)
	}
	_, err = c.Download(ctx, "LabCoreAI/private", "main", fConfig)
	mustKind(t, err, ErrRepoNotFound, "gated", "HF_TOKEN")
	_, err = c.DownloadRepoFiles(ctx, "LabCoreAI/private", "main", fConfig)
	mustKind(t, err, ErrRepoNotFound, "/api/models/LabCoreAI/private/revision/main")
	_, err = c.Download(ctx, "LabCoreAI/gated", "main", fConfig)
	mustKind(t, err, ErrGatedRepo, "LabCoreAI/gated", "HF_TOKEN")

	_, err = c.Download(ctx, repoID, "no-such-branch", fConfig)
	mustKind(t, err, ErrRevisionNotFound, `"no-such-branch"`, repoID)
	_, err = c.DownloadRepoFiles(ctx, repoID, "no-such-branch", threeFiles...)
	mustKind(t, err, ErrRevisionNotFound, "no-such-branch")

	_, err = c.Download(ctx, repoID, "main", "missing.bin")
	mustKind(t, err, ErrEntryNotFound, `"missing.bin"`, repoID, "main")
	// Remembered like huggingface_hub's .no_exist, and reported offline.
	if !regularFile(filepath.Join(fx.repoDir(), ".no_exist", fx.c2, "missing.bin")) {
		t.Error(".no_exist entry not recorded")
	}
	off := fx.client()
	off.Offline = true
	_, err = off.Download(ctx, repoID, "main", "missing.bin")
	mustKind(t, err, ErrNotCached, "does not exist")
	if !errors.Is(err, ErrEntryNotFound) {
		t.Errorf("offline known-missing error does not wrap ErrEntryNotFound: %v", err)
	}
	_, err = c.DownloadRepoFiles(ctx, repoID, "main", fConfig, "missing.bin")
	mustKind(t, err, ErrEntryNotFound, "missing.bin", "resolved to commit "+fx.c2)

	// With the token: private and gated repos work; a wrong token is named.
	c.Token = secret
	for _, id := range []string{"LabCoreAI/private", "LabCoreAI/gated"} {
		if _, err := c.DownloadRepoFiles(ctx, id, "main", fConfig); err != nil {
			t.Errorf("%s with token: %v", id, err)
		}
	}
	c.Token = "hf_wrong"
	_, err = c.Download(ctx, "LabCoreAI/private", "main", fConfig)
	mustKind(t, err, ErrRepoNotFound, "token that was sent")

	// A server without the revision API: DownloadRepoFiles falls back to
	// per-file resolution.
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.NoRevisionAPI = true })
	c.Token = ""
	if _, err := c.DownloadRepoFiles(ctx, repoID, "v1.0", fConfig); err != nil {
		t.Errorf("fallback without revision API: %v", err)
	}
}

func TestInterruptedTransfer(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	ctx := context.Background()
	blobs := filepath.Join(fx.repoDir(), "blobs")
	sum := etagOf(fx.files2[fWeights])

	// LFS file: partial data kept as .incomplete, resumed with Range.
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.CutCDN = 1 })
	_, err := c.Download(ctx, repoID, "main", fWeights)
	mustKind(t, err, ErrInterrupted, "interrupted", fx.fake.CDNURL+"/repos/ab/cd/"+sum, ".incomplete")
	if strings.Contains(err.Error(), "cdnsecret") {
		t.Errorf("error shows the CDN signature: %v", err)
	}
	if got := listDir(t, blobs); len(got) != 1 || got[0] != sum+".incomplete" {
		t.Errorf("blobs after interruption: %v, want only %s.incomplete", got, sum)
	}
	if fi, err := os.Stat(filepath.Join(blobs, sum+".incomplete")); err != nil || fi.Size() >= int64(len(fx.files2[fWeights].Data)) {
		t.Errorf("incomplete file: %v %v", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(fx.repoDir(), "snapshots", fx.c2, fWeights)); err == nil {
		t.Error("snapshot entry exists after an interrupted transfer")
	}
	fx.fake.ResetRequests()
	p, err := c.Download(ctx, repoID, "main", fWeights)
	if err != nil {
		t.Fatal(err)
	}
	fx.checkSnapshot(t, fx.c2, fWeights, p, fx.files2[fWeights])
	half := len(fx.files2[fWeights].Data) / 2
	var ranges []string
	for _, r := range fx.fake.Requests() {
		if r.Server == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	if len(ranges) != 1 || ranges[0] != "bytes="+strconv.Itoa(half)+"-" {
		t.Errorf("CDN ranges on retry %q, want [bytes=%d-]", ranges, half)
	}
	if got := listDir(t, blobs); len(got) != 1 || got[0] != sum {
		t.Errorf("blobs after retry: %v", got)
	}

	// Small (non-LFS) file: nothing kept, clean retry.
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.CutHub = 1 })
	_, err = c.Download(ctx, repoID, "main", fConfig)
	mustKind(t, err, ErrInterrupted, "interrupted", "next run starts again")
	for _, name := range listDir(t, blobs) {
		if name != sum {
			t.Errorf("blob %s left after an interrupted small file", name)
		}
	}
	fx.fake.ResetRequests()
	p, err = c.Download(ctx, repoID, "main", fConfig)
	if err != nil {
		t.Fatal(err)
	}
	fx.checkSnapshot(t, fx.c2, fConfig, p, fx.files2[fConfig])
	for _, r := range fx.fake.Requests() {
		if r.Range != "" {
			t.Errorf("small file retry sent Range %q", r.Range)
		}
	}
}

func TestTokenHandling(t *testing.T) {
	fx := newFixture(t)
	mustOK(t, fx.fake.SetPrivate(repoID, true))
	fx.fake.SetToken(secret)
	c := fx.client()
	c.Token = secret
	var progress bytes.Buffer
	c.Progress = &progress
	ctx := context.Background()

	if _, err := c.DownloadRepoFiles(ctx, repoID, "main", threeFiles...); err != nil {
		t.Fatal(err)
	}
	cdn := 0
	for _, r := range fx.fake.Requests() {
		switch r.Server {
		case "hub":
			if r.Auth != "Bearer "+secret {
				t.Errorf("hub request %s %s sent Authorization %q", r.Method, r.Path, r.Auth)
			}
		case "cdn":
			cdn++
			if r.Auth != "" {
				t.Errorf("CDN request %s received the Authorization header", r.Path)
			}
		}
	}
	if cdn != 1 {
		t.Errorf("%d CDN requests, want 1", cdn)
	}
	if !strings.Contains(progress.String(), fWeights) {
		t.Errorf("no progress shown for %s: %q", fWeights, progress.String())
	}

	// A hostile server echoing the credentials in its error message.
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.EchoAuth = true })
	c.Token = secret + "x"
	_, err := c.Download(ctx, repoID, "main", fConfig)
	mustKind(t, err, ErrRepoNotFound, "[REDACTED]")
	for _, out := range []string{fx.log.String(), progress.String()} {
		if strings.Contains(out, "hf_sEcReT") {
			t.Errorf("output leaks the token:\n%s", out)
		}
	}
}

func TestHostileNames(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	ctx := context.Background()
	badRepos := []string{"", "../x", "a/../../b", "/abs/x", "a/b/c", `a\b`, "a--b/c", "org/..", ".hidden/x", "org/x.git", "org/ x", "org/x\x00"}
	for _, id := range badRepos {
		_, err := c.Download(ctx, id, "main", fConfig)
		mustKind(t, err, ErrInvalidArgument, "repo id")
		_, err = c.DownloadRepoFiles(ctx, id, "main", fConfig)
		mustKind(t, err, ErrInvalidArgument)
	}
	badFiles := []string{"", "../../../etc/passwd", "/etc/passwd", `sub\x`, "a/../b", "a//b", "./x", "x/", "x\n"}
	for _, f := range badFiles {
		_, err := c.Download(ctx, repoID, "main", f)
		mustKind(t, err, ErrInvalidArgument, "filename")
		_, err = c.DownloadRepoFiles(ctx, repoID, "main", fConfig, f)
		mustKind(t, err, ErrInvalidArgument, "filename")
	}
	badRevs := []string{"../../../x", "a/../b", `\x`, "/abs", "main/"}
	for _, r := range badRevs {
		_, err := c.Download(ctx, repoID, r, fConfig)
		mustKind(t, err, ErrInvalidArgument, "revision")
	}
	if reqs := fx.fake.Requests(); len(reqs) != 0 {
		t.Errorf("refused names still made requests: %+v", reqs)
	}
	if got := listDir(t, fx.cacheDir); len(got) != 0 {
		t.Errorf("refused names created %v in the cache", got)
	}

	// A hostile server: etag or commit that would escape the cache.
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.BadETag = `"../../../evil"` })
	_, err := c.Download(ctx, repoID, "main", fConfig)
	mustKind(t, err, ErrProtocol, "ETag")
	_, err = c.Download(ctx, repoID, "main", fWeights)
	mustKind(t, err, ErrProtocol, "ETag")
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.BadETag = "" })
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.BadCommit = "../../x" })
	_, err = c.Download(ctx, repoID, "main", fConfig)
	mustKind(t, err, ErrProtocol, "X-Repo-Commit")
	if _, err := os.Stat(filepath.Join(fx.cacheDir, "evil")); err == nil {
		t.Error("hostile etag escaped the cache")
	}

	// Nested filenames are fine and link with a relative path.
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.BadCommit = "" })
	fx.fake.AddCommit(repoID, hubtest.Commit("nested"), map[string]hubtest.File{"sub/dir/x.json": {Data: []byte("nested")}}, "nested")
	p, err := c.Download(ctx, repoID, "nested", "sub/dir/x.json")
	if err != nil {
		t.Fatal(err)
	}
	if target, _ := os.Readlink(p); target != "../../../../blobs/"+hubtest.GitBlobSHA1([]byte("nested")) {
		t.Errorf("nested link target %q", target)
	}
}

func TestWrongSHA256Refused(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	ctx := context.Background()
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.CorruptCDN = true })
	_, err := c.Download(ctx, repoID, "main", fWeights)
	mustKind(t, err, ErrIntegrity, "sha256", etagOf(fx.files2[fWeights]))
	if got := listDir(t, filepath.Join(fx.repoDir(), "blobs")); len(got) != 0 {
		t.Errorf("blobs after a bad sha256: %v", got)
	}
	if got := listDir(t, filepath.Join(fx.repoDir(), "snapshots")); len(got) != 0 {
		t.Errorf("snapshots after a bad sha256: %v", got)
	}
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.CorruptCDN = false })
	p, err := c.Download(ctx, repoID, "main", fWeights)
	if err != nil {
		t.Fatal(err)
	}
	fx.checkSnapshot(t, fx.c2, fWeights, p, fx.files2[fWeights])

	// A damaged blob (wrong size) in the cache is fetched again.
	if err := os.WriteFile(filepath.Join(fx.repoDir(), "blobs", etagOf(fx.files2[fWeights])), []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = c.Download(ctx, repoID, "main", fWeights)
	if err != nil {
		t.Fatal(err)
	}
	fx.checkSnapshot(t, fx.c2, fWeights, p, fx.files2[fWeights])
}

func TestTimeouts(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()

	c := fx.client()
	c.ReadTimeout = 300 * time.Millisecond
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.StallCDN = true })
	start := time.Now()
	_, err := c.Download(ctx, repoID, "main", fWeights)
	mustKind(t, err, ErrTimeout, "idle read timeout", "300ms", fx.fake.CDNURL)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle timeout took %s", d)
	}
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.StallCDN = false })

	c = fx.client()
	c.MetadataTimeout = 300 * time.Millisecond
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.StallHead = true })
	_, err = c.Download(ctx, repoID, "main", fConfig)
	mustKind(t, err, ErrTimeout, "metadata timeout", fx.fake.URL)
	fx.fake.SetFaults(func(f *hubtest.Faults) { f.StallHead = false })

	c = fx.client()
	c.ConnectTimeout = time.Nanosecond
	_, err = c.Download(ctx, repoID, "main", fConfig)
	mustKind(t, err, ErrTimeout, "connect timeout")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = fx.client().Download(cctx, repoID, "main", fConfig)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

func TestNetworkUnreachable(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	c := fx.client()
	if _, err := c.Download(ctx, repoID, "main", fConfig); err != nil {
		t.Fatal(err)
	}
	fx.fake.Hub.CloseClientConnections()
	fx.fake.Hub.Close()
	url := fx.fake.URL + "/" + repoID + "/resolve/main/" + fConfig
	_, err := c.Download(ctx, repoID, "main", fConfig)
	mustKind(t, err, ErrNetwork, url, "HF_HUB_OFFLINE=1", "already in the cache")
	_, err = c.Download(ctx, repoID, "main", fTok)
	he := mustKind(t, err, ErrNetwork, "not in the cache")
	if strings.Contains(he.Error(), "HF_HUB_OFFLINE") {
		t.Errorf("suggests offline mode for an uncached file: %v", he)
	}
	_, err = c.DownloadRepoFiles(ctx, repoID, "main", fConfig)
	mustKind(t, err, ErrNetwork, "/api/models/", "HF_HUB_OFFLINE=1")
	// The commit revision is still served without any request.
	if _, err := c.Download(ctx, repoID, fx.c2, fConfig); err != nil {
		t.Errorf("cached commit with the server down: %v", err)
	}
}

func TestRenamedRepoRelativeRedirect(t *testing.T) {
	fx := newFixture(t)
	fx.fake.Rename("LabCoreAI/old-name", repoID)
	c := fx.client()
	p, err := c.Download(context.Background(), "LabCoreAI/old-name", "main", fWeights)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(fx.cacheDir, "models--LabCoreAI--old-name", "snapshots", fx.c2, fWeights)
	if p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	b, _ := os.ReadFile(p)
	if !bytes.Equal(b, fx.files2[fWeights].Data) {
		t.Error("content differs")
	}
}

func TestConcurrentDownloadsShareOneBlob(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Download(context.Background(), repoID, "main", fWeights)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sum := etagOf(fx.files2[fWeights])
	if got := listDir(t, filepath.Join(fx.repoDir(), "blobs")); len(got) != 1 || got[0] != sum {
		t.Errorf("blobs %v", got)
	}
	b, _ := os.ReadFile(filepath.Join(fx.repoDir(), "blobs", sum))
	if !bytes.Equal(b, fx.files2[fWeights].Data) {
		t.Error("blob content differs")
	}
}

func TestNewFromEnv(t *testing.T) {
	home := t.TempDir()
	for _, k := range []string{"HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
		"HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", home)

	c, err := NewFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != DefaultEndpoint || c.CacheDir != filepath.Join(home, ".cache", "huggingface", "hub") || c.Token != "" || c.Offline {
		t.Errorf("defaults: %+v", c)
	}

	hfHome := filepath.Join(home, "hf")
	os.MkdirAll(hfHome, 0o755)
	os.WriteFile(filepath.Join(hfHome, "token"), []byte(secret+"\n"), 0o600)
	t.Setenv("HF_HOME", hfHome)
	t.Setenv("HF_ENDPOINT", "http://mirror.example:8080/")
	t.Setenv("HF_HUB_ETAG_TIMEOUT", "2.5")
	t.Setenv("HF_HUB_DOWNLOAD_TIMEOUT", "60")
	c, err = NewFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "http://mirror.example:8080" || c.CacheDir != filepath.Join(hfHome, "hub") || c.Token != secret ||
		c.MetadataTimeout != 2500*time.Millisecond || c.ReadTimeout != time.Minute {
		t.Errorf("HF_HOME setup: endpoint %q cache %q token ok=%v timeouts %s %s", c.Endpoint, c.CacheDir, c.Token == secret, c.MetadataTimeout, c.ReadTimeout)
	}

	other := filepath.Join(home, "other-token")
	os.WriteFile(other, []byte("  hf_fromPath \n"), 0o600)
	t.Setenv("HF_TOKEN_PATH", other)
	t.Setenv("HF_HUB_CACHE", filepath.Join(home, "cache"))
	if c, err = NewFromEnv(); err != nil || c.Token != "hf_fromPath" || c.CacheDir != filepath.Join(home, "cache") {
		t.Errorf("HF_TOKEN_PATH/HF_HUB_CACHE: %v", err)
	}
	t.Setenv("HF_TOKEN", "hf_fromEnv")
	if c, err = NewFromEnv(); err != nil || c.Token != "hf_fromEnv" {
		t.Errorf("HF_TOKEN not preferred: %v", err)
	}

	for v, want := range map[string]bool{"1": true, "true": true, "YES": true, "On": true, "0": false, "false": false, "no": false, "": false} {
		t.Setenv("HF_HUB_OFFLINE", v)
		if c, err := NewFromEnv(); err != nil || c.Offline != want {
			t.Errorf("HF_HUB_OFFLINE=%q: offline %v, want %v (%v)", v, c != nil && c.Offline, want, err)
		}
	}

	t.Setenv("HF_ENDPOINT", "ftp://x")
	if _, err := NewFromEnv(); err == nil || !strings.Contains(err.Error(), "HF_ENDPOINT") {
		t.Errorf("bad endpoint: %v", err)
	}
	t.Setenv("HF_ENDPOINT", "")
	t.Setenv("HF_HUB_DOWNLOAD_TIMEOUT", "soon")
	if _, err := NewFromEnv(); err == nil || !strings.Contains(err.Error(), "HF_HUB_DOWNLOAD_TIMEOUT") {
		t.Errorf("bad timeout: %v", err)
	}
}
