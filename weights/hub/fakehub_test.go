package hub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub is an in-process Hub speaking the endpoints the client uses:
// /{repo}/resolve/{rev}/{file} (HEAD and GET, LFS files redirected to a
// second server playing the CDN) and /api/models/{repo}/revision/{rev},
// with the Hub's X-Error-Code answers.
type fakeHub struct {
	hub, cdn *httptest.Server

	mu      sync.Mutex
	repos   map[string]*fakeRepo
	renamed map[string]string // old repo id -> new repo id (relative redirect)
	token   string            // the one token the fake accepts
	blobs   map[string][]byte // sha256 -> content, served by the CDN
	reqs    []fakeReq

	// Fault injection.
	cutCDN        int  // cut the next N full CDN bodies half way
	cutHub        int  // cut the next N small-file GET bodies half way
	corruptCDN    bool // serve a flipped byte
	stallCDN      bool // send headers and a few bytes, then nothing
	stallHead     bool // never answer HEAD
	echoAuth      bool // put the Authorization header in X-Error-Message (hostile server)
	badEtag       string
	badCommit     string
	noRevisionAPI bool
}

type fakeRepo struct {
	refs    map[string]string              // branch/tag -> commit
	commits map[string]map[string]fakeFile // commit -> filename -> file
	private bool
	gated   bool
}

type fakeFile struct {
	data []byte
	lfs  bool
}

type fakeReq struct {
	server, method, path, auth, rng string
}

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	f := &fakeHub{repos: map[string]*fakeRepo{}, renamed: map[string]string{}, blobs: map[string][]byte{}}
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	f.cdn = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	t.Cleanup(func() {
		f.hub.CloseClientConnections()
		f.cdn.CloseClientConnections()
		f.hub.Close()
		f.cdn.Close()
	})
	return f
}

func fakeCommit(seed string) string {
	s := sha1.Sum([]byte(seed))
	return hex.EncodeToString(s[:])
}

// gitBlobSHA1 is the git object id of content, the ETag of non-LFS files.
func gitBlobSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// addCommit adds a commit with files to repo id (created if needed) and
// points the given refs at it.
func (f *fakeHub) addCommit(id, commit string, files map[string]fakeFile, refs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repos[id]
	if r == nil {
		r = &fakeRepo{refs: map[string]string{}, commits: map[string]map[string]fakeFile{}}
		f.repos[id] = r
	}
	r.commits[commit] = files
	for _, ref := range refs {
		r.refs[ref] = commit
	}
	for _, ff := range files {
		if ff.lfs {
			f.blobs[sha256Hex(ff.data)] = ff.data
		}
	}
}

// set changes the fake's state under its lock.
func (f *fakeHub) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeHub) record(server string, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, fakeReq{server, r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Range")})
}

func (f *fakeHub) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

func (f *fakeHub) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = nil
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// splitPath unescapes each segment of the escaped path (so %2F inside a
// revision stays inside its segment).
func splitPath(escaped string) ([]string, bool) {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.record("hub", r)
	segs, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		hubError(w, 400, "", "bad path")
		return
	}
	switch {
	case len(segs) == 6 && segs[0] == "api" && segs[1] == "models" && segs[4] == "revision" && r.Method == http.MethodGet:
		f.mu.Lock()
		noAPI := f.noRevisionAPI
		f.mu.Unlock()
		if noAPI {
			http.NotFound(w, r)
			return
		}
		f.serveRevisionInfo(w, r, segs[2]+"/"+segs[3], segs[5])
	case len(segs) >= 5 && segs[2] == "resolve" && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		f.serveResolve(w, r, segs[0]+"/"+segs[1], segs[3], strings.Join(segs[4:], "/"))
	default:
		hubError(w, 404, "", "Sorry, we can't find the page you are looking for.")
	}
}

// lookupRepo applies the Hub's access rules; it answers and returns nil
// when the request cannot proceed.
func (f *fakeHub) lookupRepo(w http.ResponseWriter, r *http.Request, id string, api bool) *fakeRepo {
	f.mu.Lock()
	repo := f.repos[id]
	token, echo := f.token, f.echoAuth
	f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	authorized := token != "" && auth == "Bearer "+token
	if repo == nil || repo.private && !authorized {
		msg := "Repository not found"
		if echo {
			msg += " for credentials " + auth
		}
		status := 401
		if auth != "" {
			status = 404
		}
		hubError(w, status, "RepoNotFound", msg)
		return nil
	}
	if repo.gated && !authorized && !api {
		hubError(w, 403, "GatedRepo", "Access to model "+id+" is restricted and you are not in the authorized list.")
		return nil
	}
	return repo
}

func (f *fakeHub) commitOf(repo *fakeRepo, rev string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := repo.refs[rev]; ok {
		return c
	}
	if _, ok := repo.commits[rev]; ok {
		return rev
	}
	return ""
}

func (f *fakeHub) serveRevisionInfo(w http.ResponseWriter, r *http.Request, id, rev string) {
	repo := f.lookupRepo(w, r, id, true)
	if repo == nil {
		return
	}
	commit := f.commitOf(repo, rev)
	if commit == "" {
		hubError(w, 404, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	f.mu.Lock()
	var sib []map[string]string
	for name := range repo.commits[commit] {
		sib = append(sib, map[string]string{"rfilename": name})
	}
	f.mu.Unlock()
	sort.Slice(sib, func(i, j int) bool { return sib[i]["rfilename"] < sib[j]["rfilename"] })
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "modelId": id, "sha": commit, "siblings": sib, "private": repo.private})
}

func (f *fakeHub) serveResolve(w http.ResponseWriter, r *http.Request, id, rev, file string) {
	f.mu.Lock()
	newID, moved := f.renamed[id]
	stall := f.stallHead && r.Method == http.MethodHead
	badEtag, badCommit := f.badEtag, f.badCommit
	f.mu.Unlock()
	if stall {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	if moved {
		loc := "/" + newID + "/resolve/" + url.PathEscape(rev) + "/" + file
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	repo := f.lookupRepo(w, r, id, false)
	if repo == nil {
		return
	}
	commit := f.commitOf(repo, rev)
	if commit == "" {
		hubError(w, 404, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	f.mu.Lock()
	ff, ok := repo.commits[commit][file]
	f.mu.Unlock()
	w.Header().Set("X-Repo-Commit", commit)
	if badCommit != "" {
		w.Header().Set("X-Repo-Commit", badCommit)
	}
	if !ok {
		hubError(w, 404, "EntryNotFound", file+" does not exist on \""+rev+"\"")
		return
	}
	if ff.lfs {
		sum := sha256Hex(ff.data)
		pointer := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sum, len(ff.data))
		w.Header().Set("ETag", `"`+gitBlobSHA1([]byte(pointer))+`"`)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		if badEtag != "" {
			w.Header().Set("X-Linked-Etag", badEtag)
		}
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(ff.data)))
		w.Header().Set("Location", f.cdn.URL+"/repos/ab/cd/"+sum+"?X-Amz-Signature=cdnsecret&Expires=1")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusFound)
		return
	}
	etag := `W/"` + gitBlobSHA1(ff.data) + `"`
	if badEtag != "" {
		etag = badEtag
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Length", strconv.Itoa(len(ff.data)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	f.mu.Lock()
	cut := f.cutHub > 0
	if cut {
		f.cutHub--
	}
	f.mu.Unlock()
	if cut {
		w.Write(ff.data[:len(ff.data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.Write(ff.data)
}

func (f *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	f.record("cdn", r)
	sum := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	f.mu.Lock()
	data, ok := f.blobs[sum]
	cut := f.cutCDN > 0 && r.Header.Get("Range") == ""
	if cut {
		f.cutCDN--
	}
	corrupt, stall := f.corruptCDN, f.stallCDN
	f.mu.Unlock()
	if !ok || r.URL.Query().Get("X-Amz-Signature") != "cdnsecret" {
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	if corrupt {
		data = bytes.Clone(data)
		data[len(data)/3] ^= 0xff
	}
	switch {
	case stall:
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:10])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	case cut:
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	default:
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}
