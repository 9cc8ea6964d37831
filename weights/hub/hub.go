// Package hub downloads files of a Hugging Face Hub model repo into the
// cache layout of huggingface_hub, so that files fetched here are found by
// hf_hub_download and the other way round.
//
// Cache layout (HF_HUB_CACHE, default $HF_HOME/hub):
//
//	models--ORG--NAME/
//	    blobs/<etag>                      file content (etag = git sha1, or sha256 for LFS files)
//	    blobs/<etag>.incomplete           transfer in progress or interrupted (resumed next run)
//	    refs/<revision>                   commit hash a branch or tag pointed to when last seen
//	    snapshots/<commit>/<filename>     relative symlink -> ../../blobs/<etag>
//	    .no_exist/<commit>/<filename>     marks a file known not to exist at that commit
//	.locks/models--ORG--NAME/<etag>.lock  advisory lock held while a blob is written
//
// Protocol (as huggingface_hub's file_download.py): HEAD
// {endpoint}/{repo}/resolve/{revision}/{filename} without following the
// redirect to the CDN; X-Repo-Commit gives the commit, X-Linked-Etag (or
// ETag) the blob name, X-Linked-Size (or Content-Length) the size, Location
// the CDN URL of large files. The content is then fetched with GET, the token
// being sent only to the endpoint's own host.
//
// Differences from huggingface_hub: when the network fails and the file is
// cached, Download reports the error (suggesting HF_HUB_OFFLINE=1) instead
// of silently serving the cached copy; the size is always checked and the
// sha256 too for LFS files; DownloadRepoFiles pins all files to one commit.
package hub

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labcoreai/tokbench/weights"
)

// DefaultEndpoint is the Hub used when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the revision used when none is given.
const DefaultRevision = "main"

// Client downloads files from a Hub into a huggingface_hub-compatible cache.
// The zero value is not usable: CacheDir must be set (NewFromEnv sets
// everything from the environment). A Client is safe for concurrent use.
type Client struct {
	// Endpoint is the Hub base URL, e.g. https://huggingface.co ("" means
	// DefaultEndpoint). A trailing slash is ignored.
	Endpoint string
	// Token is sent as "Authorization: Bearer" to the Endpoint's host only.
	// It never appears in errors or logs.
	Token string
	// CacheDir is the hub cache root (the folder holding models--*).
	CacheDir string
	// Offline forbids any network request: only cached files are served.
	Offline bool
	// HTTP is the client used for requests (nil: a shared client whose dial
	// gives up after ConnectTimeout). Its redirect policy is ignored:
	// redirects are followed by hand.
	HTTP *http.Client
	// Progress receives a one-line progress display per transfer (nil: quiet).
	Progress io.Writer
	// Log receives one line per request and per cache action (nil: quiet).
	Log io.Writer
	// ConnectTimeout bounds establishing a connection when HTTP is nil
	// (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// MetadataTimeout bounds a whole metadata request (HEAD, revision info)
	// (0: DefaultMetadataTimeout; HF_HUB_ETAG_TIMEOUT).
	MetadataTimeout time.Duration
	// ReadTimeout is the longest wait for data during a content transfer,
	// headers included (0: DefaultReadTimeout; HF_HUB_DOWNLOAD_TIMEOUT).
	// It is also the window over which MinRate is measured.
	ReadTimeout time.Duration
	// MinRate is the slowest transfer accepted, in bytes per second: a
	// body bringing fewer than MinRate × ReadTimeout bytes in a window of
	// ReadTimeout fails (0: DefaultMinRate; negative: no minimum, only the
	// idle timeout; HF_HUB_DOWNLOAD_MIN_RATE).
	MinRate int64
	// LockTimeout is how long a download waits for the lock another
	// process holds on the same blob while that process's partial file
	// does not grow (0: DefaultLockTimeout; HF_HUB_LOCK_TIMEOUT). The wait
	// is announced on Warn.
	LockTimeout time.Duration
	// Warn receives what the user must see even when nothing else is
	// shown, such as a wait for another process's lock (nil: os.Stderr).
	Warn io.Writer
	// MaxRetries is how many more times a request answered 500, 502, 503
	// or 504 is sent (0: DefaultMaxRetries; negative: none).
	MaxRetries int
	// RetryWait is the wait before the first retry, doubled before each
	// next one (0: DefaultRetryWait).
	RetryWait time.Duration
}

// NewFromEnv returns a Client configured like huggingface_hub:
//
//	HF_ENDPOINT              Hub URL [https://huggingface.co]
//	HF_HOME                  [$XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface]
//	HF_HUB_CACHE             cache root [$HF_HOME/hub] (legacy HUGGINGFACE_HUB_CACHE)
//	HF_TOKEN                 token (legacy HUGGING_FACE_HUB_TOKEN), else the
//	                         file HF_TOKEN_PATH [$HF_HOME/token]
//	HF_HUB_OFFLINE           1/true/yes/on (any case) = offline (also TRANSFORMERS_OFFLINE)
//	HF_HUB_ETAG_TIMEOUT      metadata timeout, seconds [10]
//	HF_HUB_DOWNLOAD_TIMEOUT  idle-read timeout, seconds [10]
//	HF_HUB_DOWNLOAD_MIN_RATE slowest transfer accepted, bytes/s, measured over
//	                         HF_HUB_DOWNLOAD_TIMEOUT windows [1024]; 0 = none
//	HF_HUB_LOCK_TIMEOUT      wait for another process's download of the same
//	                         file while it makes no progress, seconds [600]
//
// Progress goes to stderr only when stderr is a terminal; Log is nil.
func NewFromEnv() (*Client, error) {
	c := &Client{}
	c.Endpoint = strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/")
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hub: HF_ENDPOINT %q is not an http(s) URL", c.Endpoint)
	}
	home := expandUser(os.Getenv("HF_HOME"))
	if home == "" {
		base := expandUser(os.Getenv("XDG_CACHE_HOME"))
		if base == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("hub: HF_HOME is not set and the home directory is unknown: %w", err)
			}
			base = filepath.Join(h, ".cache")
		}
		home = filepath.Join(base, "huggingface")
	}
	c.CacheDir = expandUser(firstEnv("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"))
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(home, "hub")
	}
	c.Token = strings.TrimSpace(firstEnv("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"))
	if c.Token == "" {
		tp := expandUser(os.Getenv("HF_TOKEN_PATH"))
		if tp == "" {
			tp = filepath.Join(home, "token")
		}
		b, err := os.ReadFile(tp)
		switch {
		case err == nil:
			c.Token = strings.TrimSpace(string(b))
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("hub: reading token file %s: %w", tp, err)
		}
	}
	c.Offline = isTrue(firstEnv("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
	var err error
	if c.MetadataTimeout, err = envSeconds("HF_HUB_ETAG_TIMEOUT"); err != nil {
		return nil, err
	}
	if c.ReadTimeout, err = envSeconds("HF_HUB_DOWNLOAD_TIMEOUT"); err != nil {
		return nil, err
	}
	if c.LockTimeout, err = envSeconds("HF_HUB_LOCK_TIMEOUT"); err != nil {
		return nil, err
	}
	if v := strings.TrimSpace(os.Getenv("HF_HUB_DOWNLOAD_MIN_RATE")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("hub: HF_HUB_DOWNLOAD_MIN_RATE=%s is not a number of bytes per second (0 for no minimum)", weights.Quote(v))
		}
		c.MinRate = n
		if n == 0 {
			c.MinRate = -1
		}
	}
	if isTerminal(os.Stderr) {
		c.Progress = os.Stderr
	}
	return c, nil
}

// isTrue parses a boolean environment value as huggingface_hub's _is_true.
func isTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func envSeconds(name string) (time.Duration, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1e6 {
		return 0, fmt.Errorf("hub: %s=%q is not a positive number of seconds", name, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func expandUser(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[1:])
		}
	}
	return p
}

func (c *Client) endpoint() string {
	e := strings.TrimRight(c.Endpoint, "/")
	if e == "" {
		return DefaultEndpoint
	}
	return e
}

func (c *Client) logf(format string, args ...any) {
	if c.Log == nil {
		return
	}
	msg := redactor(c.Token).clean(fmt.Sprintf(format, args...))
	fmt.Fprintf(c.Log, "hub: %s\n", msg)
}

// resolveURL is huggingface_hub's hf_hub_url for a model repo.
func (c *Client) resolveURL(repoID, revision, filename string) string {
	segs := strings.Split(filename, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return c.endpoint() + "/" + repoID + "/resolve/" + url.PathEscape(revision) + "/" + strings.Join(segs, "/")
}

func (c *Client) check(t target) error {
	if err := validateRepoID(t.repoID); err != nil {
		return t.errorf(ErrInvalidArgument, "", err, "refusing repo id")
	}
	if err := validateRelPath("revision", t.revision); err != nil {
		return t.errorf(ErrInvalidArgument, "", err, "refusing revision")
	}
	if t.filename != "" {
		if err := validateRelPath("filename", t.filename); err != nil {
			return t.errorf(ErrInvalidArgument, "", err, "refusing filename")
		}
	}
	if c.CacheDir == "" {
		return t.errorf(ErrInvalidArgument, "", nil, "Client.CacheDir is empty")
	}
	return nil
}

// Download returns the snapshot path (CacheDir/models--ORG--NAME/
// snapshots/<commit>/<filename>) of filename in repoID at revision (a
// branch, a tag or a 40-hex commit; "" means main), fetching it if needed.
//
// A commit revision whose file is in the cache is served without any
// request. Otherwise, online, one HEAD checks the current version (as
// huggingface_hub does) and the content is downloaded only when its blob is
// missing. Offline, the cache is used through refs/<revision>. Errors are
// *Error values naming repo, revision, file and URL.
func (c *Client) Download(ctx context.Context, repoID, revision, filename string) (string, error) {
	p, _, err := c.download(ctx, repoID, revision, filename, nil)
	return p, err
}

// pinned is the commit the files of one DownloadRepoFiles call must come
// from, and what gave it: the revision API for a revision, or the first
// file's answer.
type pinned struct {
	commit, revision, file string
}

func (p *pinned) describe() string {
	if p.file != "" {
		return fmt.Sprintf("%s is at commit %s", p.file, p.commit)
	}
	return fmt.Sprintf("the revision API says %s is commit %s", p.revision, p.commit)
}

// download is Download; with pin set, the server's answer must name
// pin.commit (else nothing of the file is written), and when pin.commit is
// empty the answer's commit becomes the pin.
func (c *Client) download(ctx context.Context, repoID, revision, filename string, pin *pinned) (string, string, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	t := target{repoID: repoID, revision: revision, filename: filename}
	if filename == "" {
		return "", "", t.errorf(ErrInvalidArgument, "", errors.New("filename is empty"), "refusing filename")
	}
	if err := c.check(t); err != nil {
		return "", "", err
	}
	rc := newRepoCache(c.CacheDir, repoID)
	if IsCommitHash(revision) {
		if p := rc.pointerPath(revision, filename); regularFile(p) {
			c.logf("%s@%s %s: cached at %s", repoID, revision, filename, p)
			return p, revision, nil
		}
	}
	if c.Offline {
		p, err := c.fromCacheOffline(rc, t)
		return p, "", err
	}

	u := c.resolveURL(repoID, revision, filename)
	meta, resp, err := c.head(ctx, t, u)
	if err != nil {
		return "", "", c.annotate(rc, t, resp, err)
	}
	// A commit is immutable: the answer for a commit revision must name it.
	// Within one DownloadRepoFiles call, every file must come from the
	// commit the first one (or the revision API) gave: else files would
	// land in two snapshots and refs/<revision> would move between them.
	if IsCommitHash(revision) && meta.commit != revision && (pin == nil || pin.commit == "") {
		return "", "", t.errorf(ErrProtocol, displayURL(u), nil, "asked for commit %s, the answer is for commit %s; nothing of the file was kept", revision, meta.commit)
	}
	if pin != nil {
		if pin.commit == "" {
			*pin = pinned{commit: meta.commit, file: filename}
		} else if meta.commit != pin.commit {
			return "", "", t.errorf(ErrProtocol, displayURL(u), nil,
				"files of one snapshot come from different commits: %s, but the answer for %s says commit %s (the repo changed during the download, or the server is inconsistent); nothing of %s was kept: run again",
				pin.describe(), filename, meta.commit, filename)
		}
	}
	pointer := rc.pointerPath(meta.commit, filename)
	blob := rc.blobPath(meta.etag)
	if regularFile(pointer) && sizeMatches(pointer, meta.size) {
		if err := rc.writeRef(revision, meta.commit); err != nil {
			return "", "", t.errorf(ErrCache, "", err, "cannot record refs/%s", revision)
		}
		c.logf("%s@%s %s: up to date at %s", repoID, revision, filename, pointer)
		return pointer, meta.commit, nil
	}
	if err := c.fetchBlob(ctx, t, rc, meta); err != nil {
		return "", "", err
	}
	if err := link(blob, pointer); err != nil {
		return "", "", t.errorf(ErrCache, "", err, "cannot create snapshot link %s", pointer)
	}
	if err := rc.writeRef(revision, meta.commit); err != nil {
		return "", "", t.errorf(ErrCache, "", err, "cannot record refs/%s", revision)
	}
	return pointer, meta.commit, nil
}

// annotate completes a metadata error: a missing file is remembered in
// .no_exist (as huggingface_hub does) and a network failure says whether
// the file could be used offline.
func (c *Client) annotate(rc repoCache, t target, resp *http.Response, err error) error {
	var he *Error
	if !errors.As(err, &he) {
		return err
	}
	switch {
	case errors.Is(err, ErrEntryNotFound) && resp != nil:
		if commit := resp.Header.Get(headerRepoCommit); IsCommitHash(commit) {
			if rc.markMissing(commit, t.filename) == nil {
				_ = rc.writeRef(t.revision, commit)
			}
		}
	case errors.Is(err, ErrNetwork) || errors.Is(err, ErrTimeout):
		if t.filename == "" {
			break
		}
		if p, _ := rc.lookup(t.revision, t.filename); p != "" {
			he.Msg += fmt.Sprintf("; the file is already in the cache (%s): set HF_HUB_OFFLINE=1 to use it without network", p)
		} else {
			he.Msg += "; the file is not in the cache either"
		}
	}
	return err
}

func (c *Client) fromCacheOffline(rc repoCache, t target) (string, error) {
	p, looked := rc.lookup(t.revision, t.filename)
	if p != "" {
		c.logf("%s@%s %s: offline, cached at %s", t.repoID, t.revision, t.filename, p)
		return p, nil
	}
	if rc.knownMissing(t.revision, t.filename) {
		return "", t.errorf(ErrNotCached, "", ErrEntryNotFound,
			"offline mode (HF_HUB_OFFLINE) is on and the cache records that the file does not exist in the repo at this revision")
	}
	return "", t.errorf(ErrNotCached, "", nil,
		"offline mode (HF_HUB_OFFLINE) is on and the file is not in the cache (looked in %s); run once with network access to download it",
		strings.Join(looked, ", "))
}

func sizeMatches(p string, size int64) bool {
	if size < 0 {
		return true
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Size() == size
}

// fetchBlob makes blobs/<etag> hold the verified content, downloading it
// through blobs/<etag>.incomplete under a lock.
func (c *Client) fetchBlob(ctx context.Context, t target, rc repoCache, meta fileMeta) error {
	blob := rc.blobPath(meta.etag)
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return t.errorf(ErrCache, "", err, "cannot create blobs directory")
	}
	lock, err := c.lockBlob(ctx, t, filepath.Join(rc.locks, meta.etag+".lock"), blob+".incomplete")
	if err != nil {
		return err
	}
	defer lock.unlock()
	if regularFile(blob) {
		if sizeMatches(blob, meta.size) {
			c.logf("%s@%s %s: blob %s already cached", t.repoID, t.revision, t.filename, meta.etag)
			return nil
		}
		c.logf("%s@%s %s: blob %s has the wrong size, downloading again", t.repoID, t.revision, t.filename, meta.etag)
		if err := os.Remove(blob); err != nil {
			return t.errorf(ErrCache, "", err, "cannot remove damaged blob %s", blob)
		}
	}
	incomplete := blob + ".incomplete"
	// A size the disk cannot hold is refused before anything is written
	// (huggingface_hub only warns, then fails when the disk is full).
	if free, ok := freeSpace(filepath.Dir(blob)); ok {
		need := meta.size
		if fi, err := os.Stat(incomplete); err == nil && fi.Mode().IsRegular() && fi.Size() < need {
			need -= fi.Size()
		}
		if need > free {
			return t.errorf(ErrCache, "", nil, "not enough space for the file: it is announced as %s and %s has %s free; free space on that disk, or set HF_HUB_CACHE to a cache on another one",
				sizeString(meta.size), filepath.Dir(blob), sizeString(free))
		}
	}
	if err := c.transfer(ctx, t, meta, incomplete); err != nil {
		return err
	}
	if err := os.Rename(incomplete, blob); err != nil {
		return t.errorf(ErrCache, "", err, "cannot move %s to %s", incomplete, blob)
	}
	return nil
}

// lockBlob takes the lock of a blob. When another download holds it, the
// wait is announced on Warn (naming the lock file), repeated every 10 s,
// and given up after LockTimeout during which the other download's partial
// file did not grow.
func (c *Client) lockBlob(ctx context.Context, t target, lockPath, incomplete string) (*fileLock, error) {
	l, ok, err := tryLockFile(lockPath)
	if err != nil {
		return nil, t.errorf(ErrCache, "", err, "cannot lock %s", lockPath)
	}
	if ok {
		return l, nil
	}
	warn := c.Warn
	if warn == nil {
		warn = os.Stderr
	}
	timeout := durOr(c.LockTimeout, DefaultLockTimeout)
	fmt.Fprintf(warn, "hub: %s: waiting for the lock %s: another download of this file is in progress (giving up after %s without progress, HF_HUB_LOCK_TIMEOUT)\n",
		t.filename, lockPath, timeout)
	size := func() int64 {
		if fi, err := os.Stat(incomplete); err == nil {
			return fi.Size()
		}
		return -1
	}
	start := time.Now()
	lastSize, lastProgress, nextNotice := size(), start, start.Add(10*time.Second)
	poll := max(min(10*time.Millisecond, timeout/4), time.Millisecond)
	for {
		tm := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			tm.Stop()
			return nil, t.errorf(ctx.Err(), "", nil, "canceled while waiting for the lock %s", lockPath)
		case <-tm.C:
		}
		poll = min(2*poll, 500*time.Millisecond, max(timeout/4, time.Millisecond))
		l, ok, err := tryLockFile(lockPath)
		if err != nil {
			return nil, t.errorf(ErrCache, "", err, "cannot lock %s", lockPath)
		}
		now := time.Now()
		if ok {
			c.logf("%s@%s %s: got the lock %s after %s", t.repoID, t.revision, t.filename, lockPath, now.Sub(start).Round(time.Millisecond))
			return l, nil
		}
		if s := size(); s != lastSize {
			lastSize, lastProgress = s, now
		}
		if now.Sub(lastProgress) >= timeout {
			return nil, t.errorf(ErrTimeout, "", nil, "gave up waiting for the lock %s after %s: another download of this file holds it and its partial file %s did not grow for %s (HF_HUB_LOCK_TIMEOUT)",
				lockPath, now.Sub(start).Round(time.Millisecond), incomplete, timeout)
		}
		if now.After(nextNotice) {
			fmt.Fprintf(warn, "hub: %s: still waiting for the lock %s (%s so far)\n", t.filename, lockPath, now.Sub(start).Round(time.Second))
			nextNotice = now.Add(10 * time.Second)
		}
	}
}

// transfer GETs meta.location into the incomplete file and verifies it.
// An LFS file (sha256 etag) interrupted earlier is resumed with a Range
// request; anything else starts clean.
func (c *Client) transfer(ctx context.Context, t target, meta fileMeta, incomplete string) error {
	isSHA := sha256Re.MatchString(meta.etag)
	var offset int64
	if fi, err := os.Stat(incomplete); err == nil && isSHA && fi.Mode().IsRegular() && fi.Size() > 0 && fi.Size() < meta.size {
		offset = fi.Size()
	}
	flags := os.O_CREATE | os.O_RDWR
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(incomplete, flags, 0o666)
	if err != nil {
		return t.errorf(ErrCache, "", err, "cannot open %s", incomplete)
	}
	keep := false
	defer func() {
		f.Close()
		if !keep {
			os.Remove(incomplete)
		}
	}()
	var h hash.Hash
	if isSHA {
		h = sha256.New()
	}
	restart := func() error {
		offset = 0
		if h != nil {
			h.Reset()
		}
		if err := f.Truncate(0); err != nil {
			return t.errorf(ErrCache, "", err, "cannot truncate %s", incomplete)
		}
		return nil
	}
	if offset > 0 && h != nil {
		if _, err := io.CopyN(h, f, offset); err != nil {
			if err := restart(); err != nil {
				return err
			}
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return t.errorf(ErrCache, "", err, "cannot seek in %s", incomplete)
	}

	d := durOr(c.ReadTimeout, DefaultReadTimeout)
	rate := c.MinRate
	if rate == 0 {
		rate = DefaultMinRate
	}
	need := int64(1)
	if rate > 0 {
		need = max(1, int64(float64(rate)*d.Seconds()))
	}
	slow := func(got int64) string {
		if got == 0 {
			return fmt.Sprintf("no data received for %s (idle read timeout, HF_HUB_DOWNLOAD_TIMEOUT)", d)
		}
		return fmt.Sprintf("only %d bytes received in %s, below the minimum rate of %d bytes/s (HF_HUB_DOWNLOAD_MIN_RATE, measured over windows of the idle read timeout, HF_HUB_DOWNLOAD_TIMEOUT)", got, d, rate)
	}
	var (
		w     *watchdog
		resp  *http.Response
		u     string
		start int64
	)
	defer func() {
		if w != nil {
			w.stop()
		}
	}()
	err = c.withRetries(ctx, "GET "+displayURL(meta.location), func() error {
		if w != nil {
			w.stop()
		}
		// A fresh timer per try: the wait between tries is not reading.
		w = newRateWatchdog(ctx, d, need, slow)
		var err error
		resp, u, start, err = c.get(ctx, w, t, meta.location, offset)
		return err
	})
	if err != nil {
		keep = offset > 0 // a resumable partial survives a failed request
		return err
	}
	defer resp.Body.Close()
	du := displayURL(u)
	switch {
	case resp.StatusCode == http.StatusPartialContent && start > 0:
		c.logf("%s@%s %s: resuming at byte %d", t.repoID, t.revision, t.filename, offset)
		if total, ok := rangeTotal(resp.Header.Get("Content-Range")); ok && total != meta.size {
			return t.errorf(ErrIntegrity, du, nil, "Content-Range %s announces a file of %d bytes but the file's metadata says %d; nothing was kept",
				weights.Quote(resp.Header.Get("Content-Range")), total, meta.size)
		}
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent:
		if offset > 0 {
			// Range ignored: start over.
			if err := restart(); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return t.errorf(ErrCache, "", err, "cannot seek in %s", incomplete)
			}
		}
	default:
		return t.errorf(ErrHTTP, du, nil, "unexpected HTTP status %s for the content", statusText(resp))
	}
	expected := meta.size

	// The wire: what the server sends, counted by the watchdog; its read
	// error, if any, is the transport's.
	wire := &errReader{r: idleReader{resp.Body, w}}
	var body io.Reader = wire
	rawEnc := resp.Header.Get("Content-Encoding")
	switch strings.ToLower(strings.TrimSpace(rawEnc)) {
	case "", "identity":
		if resp.ContentLength >= 0 && offset+resp.ContentLength != expected {
			return t.errorf(ErrIntegrity, du, nil, "the content is announced as %d bytes (Content-Length) but the file's metadata says %d; nothing was kept",
				offset+resp.ContentLength, expected)
		}
	case "gzip", "x-gzip":
		// As requests (huggingface_hub's HTTP library) does: decoded
		// transparently, the size checked on the decoded content.
		if offset > 0 {
			return t.errorf(ErrProtocol, du, nil, "answered a Range request with a gzip-encoded body, which cannot continue the partial file; it was removed, the next run starts again")
		}
		zr, err := gzip.NewReader(body)
		if err != nil {
			if wire.err != nil {
				return c.transferFailed(ctx, w, t, u, wire.err, 0, expected, incomplete, false)
			}
			return t.errorf(ErrIntegrity, du, err, "the body is announced as gzip-encoded (Content-Encoding) but is not valid gzip; nothing was kept")
		}
		defer zr.Close()
		body = zr
	default:
		return t.errorf(ErrProtocol, du, nil, "the body has Content-Encoding %s, which is not supported (the request asked for identity, and gzip is decoded); nothing was kept", weights.Quote(rawEnc))
	}
	c.logf("GET %s -> %s (%s)", du, incomplete, sizeString(expected))

	fw := &errWriter{w: f}
	var dst io.Writer = fw
	if h != nil {
		dst = io.MultiWriter(fw, h)
	}
	// Never write more than announced (one byte more shows the excess).
	body = io.LimitReader(body, expected-offset+1)
	pr := newProgress(c.Progress, t.filename, offset, expected)
	n, err := io.Copy(dst, pr.reader(body))
	pr.done()
	got := offset + n
	switch {
	case fw.err != nil:
		return writeFailed(t, fw.err, incomplete, got, expected)
	case err != nil && wire.err == nil:
		// Not the transport: the gzip decoder.
		return t.errorf(ErrIntegrity, du, err, "the gzip-encoded body is corrupt after %d decoded bytes; nothing was kept", got)
	case err != nil:
		te := c.transferFailed(ctx, w, t, u, err, got, expected, incomplete, isSHA)
		keep = isSHA && got > 0
		return te
	}
	if got > expected {
		return t.errorf(ErrIntegrity, du, nil, "received more than the %d bytes announced; nothing was kept", expected)
	}
	if got != expected {
		return t.errorf(ErrIntegrity, du, nil, "received %d bytes, expected %d; nothing was kept", got, expected)
	}
	if h != nil {
		if sum := hex.EncodeToString(h.Sum(nil)); sum != meta.etag {
			return t.errorf(ErrIntegrity, du, nil, "sha256 of the received data is %s, expected %s; nothing was kept", sum, meta.etag)
		}
	}
	if err := f.Sync(); err != nil {
		return writeFailed(t, err, incomplete, got, expected)
	}
	keep = true // renamed by the caller
	return nil
}

// transferFailed describes a transport failure (err) during a body
// transfer that had reached got bytes. An LFS file keeps its partial data
// for the next run to resume (resumable).
func (c *Client) transferFailed(ctx context.Context, w *watchdog, t target, u string, err error, got, expected int64, incomplete string, resumable bool) *Error {
	te := c.transportError(ctx, w, t, u, err)
	switch {
	case resumable && got > 0 && errors.Is(te, ErrNetwork):
		te.Kind = ErrInterrupted
		te.Msg = fmt.Sprintf("transfer interrupted after %d of %s; the partial data stays in %s and the next run resumes it",
			got, sizeString(expected), incomplete)
	case errors.Is(te, ErrNetwork):
		te.Kind = ErrInterrupted
		te.Msg = fmt.Sprintf("transfer interrupted after %d of %s; nothing was kept, the next run starts again", got, sizeString(expected))
	case resumable && got > 0:
		te.Msg += fmt.Sprintf(" after %d of %s; the partial data stays in %s and the next run resumes it", got, sizeString(expected), incomplete)
	}
	return te
}

// writeFailed describes a failure to write the incomplete file, which the
// caller removes: a full disk is named as such, not as a failed transfer.
func writeFailed(t target, err error, incomplete string, got, expected int64) *Error {
	if errors.Is(err, syscall.ENOSPC) {
		return t.errorf(ErrCache, "", err, "no space left on device writing %s (%d of %s received): free space on that disk, or set HF_HUB_CACHE to a cache on another one; the partial file was removed",
			incomplete, got, sizeString(expected))
	}
	return t.errorf(ErrCache, "", err, "cannot write %s (%d of %s received); the partial file was removed", incomplete, got, sizeString(expected))
}

// errReader records the first read error of r.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// errWriter records the first write error of w.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// rangeTotal returns the complete length in a Content-Range header
// ("bytes N-M/T"), if it gives one.
func rangeTotal(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
	return n, err == nil
}

// get issues the content GET, following redirects by hand: the token goes
// only to the endpoint's host. Every way round the loop sends one more
// request, and there are at most maxRedirects redirects plus one restart
// from byte 0 (a Range refused, or answered from the wrong offset; without
// Range, only a 200 or a 206 from byte 0 is taken): the loop always ends.
//
// It returns the answer, its URL and the offset its body starts at (0 when
// the Range was dropped).
func (c *Client) get(ctx context.Context, w *watchdog, t target, u string, offset int64) (*http.Response, string, int64, error) {
	hc := c.noRedirect()
	for hops := 0; ; {
		req, err := c.newRequest(w.ctx, http.MethodGet, u)
		if err != nil {
			return nil, u, 0, t.errorf(ErrInvalidArgument, displayURL(u), err, "cannot build request")
		}
		if offset > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, u, 0, c.transportError(ctx, w, t, u, err)
		}
		w.kick()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			resp.Body.Close()
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil || resp.Header.Get("Location") == "" {
				return nil, u, 0, t.errorf(ErrProtocol, displayURL(u), nil, "redirect (HTTP %d) without a usable Location (%s)", resp.StatusCode, weights.Quote(resp.Header.Get("Location")))
			}
			if hops >= maxRedirects {
				return nil, u, 0, t.errorf(ErrProtocol, displayURL(u), nil, "more than %d redirects", maxRedirects)
			}
			hops++
			u = loc.String()
			continue
		}
		if resp.StatusCode >= 400 && !(resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0) {
			defer resp.Body.Close()
			return nil, u, 0, c.statusError(resp, t, u)
		}
		if resp.StatusCode == http.StatusPartialContent || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			cr := resp.Header.Get("Content-Range")
			if resp.StatusCode == http.StatusPartialContent && rangeStartsAt(cr, offset) {
				return resp, u, offset, nil
			}
			resp.Body.Close()
			if offset == 0 {
				// Without Range, only a 200 (or a 206 from byte 0) holds the
				// file from its start.
				return nil, u, 0, t.errorf(ErrProtocol, displayURL(u), nil,
					"answered HTTP 206 (partial content) to a request without Range, with Content-Range %s not starting at byte 0", weights.Quote(cr))
			}
			// The range was refused (416) or answered from another offset:
			// start from byte 0 without Range (once: offset is now 0).
			c.logf("GET %s: HTTP %d with Content-Range %s for bytes=%d-, starting again from byte 0", displayURL(u), resp.StatusCode, weights.Quote(cr), offset)
			offset = 0
			continue
		}
		return resp, u, 0, nil
	}
}

// rangeStartsAt reports whether a Content-Range header ("bytes N-M/T")
// starts at off.
func rangeStartsAt(cr string, off int64) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(cr), "bytes ")
	if !ok {
		return false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(start, 10, 64)
	return err == nil && n == off
}

// DownloadRepoFiles downloads several files of one repo at one revision and
// returns filename -> snapshot path. Online with a branch or tag, the
// revision is first resolved to a commit through
// /api/models/{repo}/revision/{revision}, so that all files come from the
// same commit and the ones already cached cost no further request;
// refs/<revision> is updated once all files are in place. Every name is
// checked before any request. On error the map is nil.
func (c *Client) DownloadRepoFiles(ctx context.Context, repoID, revision string, files ...string) (map[string]string, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	t := target{repoID: repoID, revision: revision}
	if err := c.check(t); err != nil {
		return nil, err
	}
	for _, f := range files {
		ft := t
		ft.filename = f
		if f == "" {
			return nil, ft.errorf(ErrInvalidArgument, "", errors.New("filename is empty"), "refusing filename")
		}
		if err := c.check(ft); err != nil {
			return nil, err
		}
	}
	out := make(map[string]string, len(files))
	if len(files) == 0 {
		return out, nil
	}
	rev := revision
	pin := !c.Offline && !IsCommitHash(revision)
	if pin {
		commit, err := c.resolveRevision(ctx, t)
		var he *Error
		switch {
		case err == nil:
			rev = commit
			c.logf("%s: revision %s is commit %s", repoID, revision, commit)
		case errors.As(err, &he) && he.Kind == ErrHTTP && (he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed || he.Status == http.StatusNotImplemented):
			// Endpoint without the revision API (some mirrors): ask per file.
			c.logf("%s: revision API unavailable (%v), resolving per file", repoID, err)
			pin = false
		default:
			if errors.Is(err, ErrNetwork) || errors.Is(err, ErrTimeout) {
				rc := newRepoCache(c.CacheDir, repoID)
				all := true
				for _, f := range files {
					if p, _ := rc.lookup(revision, f); p == "" {
						all = false
					}
				}
				if all && he != nil {
					he.Msg += "; all requested files are already in the cache: set HF_HUB_OFFLINE=1 to use them without network"
				}
			}
			return nil, err
		}
	}
	pn := &pinned{}
	if pin {
		pn = &pinned{commit: rev, revision: revision}
	}
	for _, f := range files {
		p, _, err := c.download(ctx, repoID, rev, f, pn)
		if err != nil {
			var he *Error
			if pin && errors.As(err, &he) {
				he.Msg += fmt.Sprintf(" (revision %s resolved to commit %s)", revision, rev)
			}
			return nil, err
		}
		out[f] = p
	}
	if pin {
		if err := newRepoCache(c.CacheDir, repoID).writeRef(revision, rev); err != nil {
			return nil, t.errorf(ErrCache, "", err, "cannot record refs/%s", revision)
		}
	}
	return out, nil
}

func sizeString(n int64) string {
	if n < 0 {
		return "unknown size"
	}
	const mib = 1 << 20
	if n >= mib {
		return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/mib)
	}
	return fmt.Sprintf("%d bytes", n)
}
