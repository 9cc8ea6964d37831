// Package hubtest runs a Hugging Face Hub look-alike on local HTTP servers,
// as net/http/httptest runs an HTTP server: for tests of Hub clients and for
// trying a Hub flow without the network (see tools/hubserve).
//
// A Server speaks the endpoints huggingface_hub's downloads use:
//
//	HEAD/GET /ORG/NAME/resolve/REVISION/FILENAME
//	    X-Repo-Commit, ETag (git blob sha1 of the content, or of the LFS
//	    pointer for LFS files), Content-Length. LFS files are answered with
//	    302 Found, X-Linked-Etag (sha256), X-Linked-Size and a Location on a
//	    second server playing the CDN, which honours Range requests.
//	GET /api/models/ORG/NAME/revision/REVISION
//	    {"id", "modelId", "sha", "siblings": [{"rfilename"}], "private"}
//
// Errors carry the Hub's X-Error-Code (RepoNotFound, RevisionNotFound,
// EntryNotFound, GatedRepo) and X-Error-Message headers, with the Hub's
// statuses: 401 for an unknown or inaccessible repo without credentials,
// 404 with credentials. Repos are built from in-memory files (AddCommit) or
// from a directory on disk (AddDir); every request is recorded (Requests).
// Faults can be injected (SetFaults) to test a client's error handling.
package hubtest

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File is one file of a repo commit.
type File struct {
	Data []byte
	// LFS makes the file an LFS file: served through the CDN redirect, its
	// ETag being the sha256 of the content.
	LFS bool
}

// Request is one request received by a Server.
type Request struct {
	Server string // "hub" or "cdn"
	Method string
	Path   string // escaped URL path
	Auth   string // Authorization header
	Range  string // Range header
	Status int    // status answered (0 when the handler was aborted)
}

// Faults are misbehaviours a Server can be told to show, for client tests.
type Faults struct {
	CutCDN        int    // cut the next N full (non-Range) CDN bodies half way
	CutHub        int    // cut the next N small-file GET bodies half way
	CorruptCDN    bool   // CDN serves the content with one byte flipped
	StallCDN      bool   // CDN sends headers and 10 bytes, then nothing for 5s
	StallHead     bool   // HEAD on resolve never answers (for 5s)
	EchoAuth      bool   // put the Authorization header in error messages (a hostile server)
	NoRevisionAPI bool   // /api/models/.../revision/... answers a plain 404
	BadETag       string // ETag (or X-Linked-Etag) to send instead of the real one
	BadCommit     string // X-Repo-Commit to send instead of the real one
}

// Server is a Hub look-alike on two HTTP servers: the Hub itself (URL, the
// value for HF_ENDPOINT) and the CDN large files are redirected to (CDNURL).
// Its methods are safe for concurrent use.
type Server struct {
	// URL is the Hub base URL, without a trailing slash.
	URL string
	// CDNURL is the base URL of the CDN server.
	CDNURL string
	// Hub and CDN are the underlying servers (for Close,
	// CloseClientConnections).
	Hub, CDN *httptest.Server

	mu      sync.Mutex
	repos   map[string]*repo
	renamed map[string]string // old repo id -> new repo id
	token   string
	blobs   map[string][]byte // sha256 -> content, served by the CDN
	reqs    []Request
	gen     int // incremented by ResetRequests
	faults  Faults
	log     io.Writer
}

type repo struct {
	refs    map[string]string          // branch/tag -> commit
	commits map[string]map[string]File // commit -> filename -> file
	private bool
	gated   bool
}

// NewServer starts a Server on two loopback ports. The caller closes it.
func NewServer() *Server {
	s := newServer()
	s.Hub.Start()
	s.CDN.Start()
	s.URL, s.CDNURL = s.Hub.URL, s.CDN.URL
	return s
}

// NewServerOn starts a Server whose Hub accepts on hubLn and whose CDN
// accepts on cdnLn. The Server owns the listeners; the caller closes it.
func NewServerOn(hubLn, cdnLn net.Listener) *Server {
	s := newServer()
	s.Hub.Listener.Close()
	s.CDN.Listener.Close()
	s.Hub.Listener, s.CDN.Listener = hubLn, cdnLn
	s.Hub.Start()
	s.CDN.Start()
	s.URL, s.CDNURL = s.Hub.URL, s.CDN.URL
	return s
}

func newServer() *Server {
	s := &Server{repos: map[string]*repo{}, renamed: map[string]string{}, blobs: map[string][]byte{}}
	s.Hub = httptest.NewUnstartedServer(s.recorder("hub", s.serveHub))
	s.CDN = httptest.NewUnstartedServer(s.recorder("cdn", s.serveCDN))
	return s
}

// Close drops open client connections and shuts both servers down.
func (s *Server) Close() {
	s.Hub.CloseClientConnections()
	s.CDN.CloseClientConnections()
	s.Hub.Close()
	s.CDN.Close()
}

// Commit returns a fake commit hash (40 hex digits) derived from seed.
func Commit(seed string) string {
	h := sha1.Sum([]byte(seed))
	return hex.EncodeToString(h[:])
}

// GitBlobSHA1 is the git object id of content: the ETag of a non-LFS file.
func GitBlobSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// SHA256 is the hex sha256 of b: the ETag of an LFS file.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ETag is the blob name huggingface_hub gives f in its cache.
func (f File) ETag() string {
	if f.LFS {
		return SHA256(f.Data)
	}
	return GitBlobSHA1(f.Data)
}

// LFSThreshold is the size from which AddDir stores a file in LFS whatever
// its name (the Hub refuses regular files of 10 MiB or more).
const LFSThreshold = 10 << 20

// lfsExts are extensions the Hub's default .gitattributes sends to LFS.
var lfsExts = map[string]bool{
	".7z": true, ".arrow": true, ".bin": true, ".bz2": true, ".ckpt": true, ".ftz": true, ".gz": true,
	".h5": true, ".joblib": true, ".mlmodel": true, ".model": true, ".msgpack": true, ".npy": true,
	".npz": true, ".onnx": true, ".ot": true, ".parquet": true, ".pb": true, ".pickle": true, ".pkl": true,
	".pt": true, ".pth": true, ".rar": true, ".safetensors": true, ".tar": true, ".tflite": true,
	".tgz": true, ".wasm": true, ".xz": true, ".zip": true, ".zst": true,
}

// IsLFS says whether the Hub would store a file of that name and size in
// LFS with its default .gitattributes.
func IsLFS(name string, size int) bool {
	return size >= LFSThreshold || lfsExts[strings.ToLower(path.Ext(name))]
}

// CommitOf returns a commit hash determined by the files' names, contents
// and LFS flags: the same files give the same commit.
func CommitOf(files map[string]File) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha1.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00%t\n", n, files[n].ETag(), files[n].LFS)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ValidRepoID reports whether id has the ORG/NAME form the Server serves.
func ValidRepoID(id string) bool {
	org, name, ok := strings.Cut(id, "/")
	return ok && validSeg(org) && validSeg(name)
}

func validSeg(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 96 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
			return false
		}
	}
	return true
}

// AddCommit adds a commit with files to repo id (created if needed, public)
// and points the given refs (branches, tags) at it.
func (s *Server) AddCommit(id, commit string, files map[string]File, refs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	if r == nil {
		r = &repo{refs: map[string]string{}, commits: map[string]map[string]File{}}
		s.repos[id] = r
	}
	r.commits[commit] = files
	for _, ref := range refs {
		r.refs[ref] = commit
	}
	for _, f := range files {
		if f.LFS {
			s.blobs[SHA256(f.Data)] = f.Data
		}
	}
}

// AddDir reads the regular files under dir (hidden files and directories
// skipped, symlinks followed) into a new commit of repo id, LFS as IsLFS
// says, and points refs at it (main when none is given). It returns the
// commit, which CommitOf determines. The files are read once: later changes
// on disk are not seen.
func (s *Server) AddDir(id, dir string, refs ...string) (string, error) {
	if !ValidRepoID(id) {
		return "", fmt.Errorf("hubtest: repo id %q: want ORG/NAME", id)
	}
	files := map[string]File{}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("hubtest: repo %s: %w", id, err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		files[name] = File{Data: data, LFS: IsLFS(name, len(data))}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hubtest: repo %s: %w", id, err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("hubtest: repo %s: no files under %s", id, dir)
	}
	if len(refs) == 0 {
		refs = []string{"main"}
	}
	c := CommitOf(files)
	s.AddCommit(id, c, files, refs...)
	return c, nil
}

// SetPrivate makes repo id private (served only with the token, see
// SetToken) or public again.
func (s *Server) SetPrivate(id string, private bool) error {
	return s.setRepo(id, func(r *repo) { r.private = private })
}

// SetGated makes repo id gated: its files are served only with the token,
// its revision info to anyone.
func (s *Server) SetGated(id string, gated bool) error {
	return s.setRepo(id, func(r *repo) { r.gated = gated })
}

func (s *Server) setRepo(id string, fn func(*repo)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	if r == nil {
		return fmt.Errorf("hubtest: no repo %q", id)
	}
	fn(r)
	return nil
}

// Rename makes requests for oldID redirect (307, relative Location) to
// newID, as the Hub does for renamed repos.
func (s *Server) Rename(oldID, newID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renamed[oldID] = newID
}

// SetToken sets the one token ("Authorization: Bearer TOKEN") that gives
// access to private and gated repos; "" accepts none.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetFaults changes the injected faults under the Server's lock.
func (s *Server) SetFaults(fn func(*Faults)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.faults)
}

// SetLog makes the Server write one line per request to w (nil: quiet).
// The Authorization header is never written.
func (s *Server) SetLog(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = w
}

// Requests returns the requests received since the start or the last
// ResetRequests, in order of arrival. Status is 0 while a request is being
// answered and when its handler was aborted.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
	s.gen++
}

// statusWriter records the status a handler answers.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) recorder(server string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := Request{Server: server, Method: r.Method, Path: r.URL.EscapedPath(),
			Auth: r.Header.Get("Authorization"), Range: r.Header.Get("Range")}
		s.mu.Lock()
		gen, idx := s.gen, len(s.reqs)
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w}
		aborted := true
		defer func() {
			st := "aborted"
			if !aborted {
				req.Status = cmp.Or(sw.status, http.StatusOK)
				st = strconv.Itoa(req.Status)
			}
			s.mu.Lock()
			if s.gen == gen {
				s.reqs[idx].Status = req.Status
			}
			lw := s.log
			s.mu.Unlock()
			if lw != nil {
				rng := ""
				if req.Range != "" {
					rng = " (" + req.Range + ")"
				}
				fmt.Fprintf(lw, "%s %s %s%s -> %s\n", server, req.Method, req.Path, rng, st)
			}
		}()
		h(sw, r)
		aborted = false
	})
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
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	segs, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		hubError(w, http.StatusBadRequest, "", "bad path")
		return
	}
	switch {
	case len(segs) == 6 && segs[0] == "api" && segs[1] == "models" && segs[4] == "revision" && r.Method == http.MethodGet:
		s.mu.Lock()
		noAPI := s.faults.NoRevisionAPI
		s.mu.Unlock()
		if noAPI {
			http.NotFound(w, r)
			return
		}
		s.serveRevisionInfo(w, r, segs[2]+"/"+segs[3], segs[5])
	case len(segs) >= 5 && segs[2] == "resolve" && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		s.serveResolve(w, r, segs[0]+"/"+segs[1], segs[3], strings.Join(segs[4:], "/"))
	default:
		hubError(w, http.StatusNotFound, "", "Sorry, we can't find the page you are looking for.")
	}
}

// lookupRepo applies the Hub's access rules; it answers and returns nil
// when the request cannot proceed.
func (s *Server) lookupRepo(w http.ResponseWriter, r *http.Request, id string, api bool) *repo {
	s.mu.Lock()
	rp := s.repos[id]
	token, echo := s.token, s.faults.EchoAuth
	var private, gated bool
	if rp != nil {
		private, gated = rp.private, rp.gated
	}
	s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	authorized := token != "" && auth == "Bearer "+token
	if rp == nil || private && !authorized {
		msg := "Repository not found"
		if echo {
			msg += " for credentials " + auth
		}
		status := http.StatusUnauthorized
		if auth != "" {
			status = http.StatusNotFound
		}
		hubError(w, status, "RepoNotFound", msg)
		return nil
	}
	if gated && !authorized && !api {
		hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+id+" is restricted and you are not in the authorized list.")
		return nil
	}
	return rp
}

func (s *Server) commitOf(rp *repo, rev string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := rp.refs[rev]; ok {
		return c
	}
	if _, ok := rp.commits[rev]; ok {
		return rev
	}
	return ""
}

func (s *Server) serveRevisionInfo(w http.ResponseWriter, r *http.Request, id, rev string) {
	rp := s.lookupRepo(w, r, id, true)
	if rp == nil {
		return
	}
	commit := s.commitOf(rp, rev)
	if commit == "" {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	s.mu.Lock()
	sib := []map[string]string{}
	for name := range rp.commits[commit] {
		sib = append(sib, map[string]string{"rfilename": name})
	}
	private := rp.private
	s.mu.Unlock()
	sort.Slice(sib, func(i, j int) bool { return sib[i]["rfilename"] < sib[j]["rfilename"] })
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "modelId": id, "sha": commit, "siblings": sib, "private": private})
}

func (s *Server) serveResolve(w http.ResponseWriter, r *http.Request, id, rev, file string) {
	s.mu.Lock()
	newID, moved := s.renamed[id]
	stall := s.faults.StallHead && r.Method == http.MethodHead
	badEtag, badCommit := s.faults.BadETag, s.faults.BadCommit
	s.mu.Unlock()
	if stall {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	if moved {
		w.Header().Set("Location", "/"+newID+"/resolve/"+url.PathEscape(rev)+"/"+file)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	rp := s.lookupRepo(w, r, id, false)
	if rp == nil {
		return
	}
	commit := s.commitOf(rp, rev)
	if commit == "" {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	s.mu.Lock()
	f, ok := rp.commits[commit][file]
	s.mu.Unlock()
	w.Header().Set("X-Repo-Commit", commit)
	if badCommit != "" {
		w.Header().Set("X-Repo-Commit", badCommit)
	}
	if !ok {
		hubError(w, http.StatusNotFound, "EntryNotFound", file+" does not exist on \""+rev+"\"")
		return
	}
	if f.LFS {
		sum := SHA256(f.Data)
		pointer := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sum, len(f.Data))
		w.Header().Set("ETag", `"`+GitBlobSHA1([]byte(pointer))+`"`)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		if badEtag != "" {
			w.Header().Set("X-Linked-Etag", badEtag)
		}
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.Data)))
		w.Header().Set("Location", s.CDNURL+"/repos/ab/cd/"+sum+"?X-Amz-Signature=cdnsecret&Expires=1")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusFound)
		return
	}
	etag := `W/"` + GitBlobSHA1(f.Data) + `"`
	if badEtag != "" {
		etag = badEtag
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Data)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	s.mu.Lock()
	cut := s.faults.CutHub > 0
	if cut {
		s.faults.CutHub--
	}
	s.mu.Unlock()
	if cut {
		w.Write(f.Data[:len(f.Data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.Write(f.Data)
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	sum := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	s.mu.Lock()
	data, ok := s.blobs[sum]
	cut := s.faults.CutCDN > 0 && r.Header.Get("Range") == ""
	if cut {
		s.faults.CutCDN--
	}
	corrupt, stall := s.faults.CorruptCDN, s.faults.StallCDN
	s.mu.Unlock()
	if !ok || r.URL.Query().Get("X-Amz-Signature") != "cdnsecret" {
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	if corrupt && len(data) > 0 {
		data = bytes.Clone(data)
		data[len(data)/3] ^= 0xff
	}
	switch {
	case stall:
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:min(10, len(data))])
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
