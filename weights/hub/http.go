package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labcoreai/tokbench/weights"
)

// Default timeouts, the same as huggingface_hub's HF_HUB_ETAG_TIMEOUT and
// HF_HUB_DOWNLOAD_TIMEOUT defaults.
const (
	DefaultConnectTimeout  = 10 * time.Second
	DefaultMetadataTimeout = 10 * time.Second
	DefaultReadTimeout     = 10 * time.Second
)

// DefaultMinRate is the slowest transfer accepted, in bytes per second,
// measured over windows of the read timeout (HF_HUB_DOWNLOAD_MIN_RATE):
// with the defaults, 10 KiB must arrive in every 10 s.
const DefaultMinRate = 1024

// DefaultLockTimeout is how long a download waits for another process's
// lock on the same blob while that process's partial file does not grow
// (HF_HUB_LOCK_TIMEOUT).
const DefaultLockTimeout = 10 * time.Minute

// Default retry policy for answers 500, 502, 503 and 504: three more tries,
// after 1s, 2s and 4s.
const (
	DefaultMaxRetries = 3
	DefaultRetryWait  = time.Second
)

// retryable reports whether err is a server error worth another try.
func retryable(err error) bool {
	var he *Error
	if !errors.As(err, &he) || he.Kind != ErrHTTP {
		return false
	}
	switch he.Status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// withRetries runs op until it succeeds, fails with anything but a
// retryable server error, or has run 1+MaxRetries times, waiting RetryWait
// before the first retry and twice as long before each next one. A given-up
// error says how many attempts were made.
func (c *Client) withRetries(ctx context.Context, what string, op func() error) error {
	retries := c.MaxRetries
	if retries == 0 {
		retries = DefaultMaxRetries
	} else if retries < 0 {
		retries = 0
	}
	wait := durOr(c.RetryWait, DefaultRetryWait)
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || !retryable(err) {
			return err
		}
		if attempt > retries {
			var he *Error
			if attempt > 1 && errors.As(err, &he) {
				he.Msg += fmt.Sprintf("; gave up after %d attempts", attempt)
			}
			return err
		}
		c.logf("%s: %v; retry %d of %d in %s", what, err, attempt, retries, wait)
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done(): // the next try reports the cancellation
		case <-tm.C:
		}
		tm.Stop()
		wait *= 2
	}
}

const (
	headerRepoCommit = "X-Repo-Commit"
	headerLinkedEtag = "X-Linked-Etag"
	headerLinkedSize = "X-Linked-Size"
	headerErrorCode  = "X-Error-Code"
	headerErrorMsg   = "X-Error-Message"
	maxRedirects     = 10
	userAgent        = "tokbench-hub/1 (go)"
)

var (
	defaultClientsMu sync.Mutex
	defaultClients   = map[time.Duration]*http.Client{}
)

// defaultHTTPClient returns a shared client whose dialer gives up after
// connect. Other timeouts are enforced per request by the Client.
func defaultHTTPClient(connect time.Duration) *http.Client {
	defaultClientsMu.Lock()
	defer defaultClientsMu.Unlock()
	if hc, ok := defaultClients[connect]; ok {
		return hc
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	tr.DialContext = d.DialContext
	tr.TLSHandshakeTimeout = connect
	hc := &http.Client{Transport: tr}
	defaultClients[connect] = hc
	return hc
}

// noRedirect returns a copy of the configured client that hands 3xx
// answers back instead of following them: redirects are followed by hand so
// that the token never travels to another host.
func (c *Client) noRedirect() *http.Client {
	var hc http.Client
	if c.HTTP != nil {
		hc = *c.HTTP
	} else {
		hc = *defaultHTTPClient(durOr(c.ConnectTimeout, DefaultConnectTimeout))
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

func durOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// timeoutCause is the cancellation cause set by a watchdog.
type timeoutCause struct{ msg string }

func (e *timeoutCause) Error() string { return e.msg }

// watchdog cancels a request context when its timer expires. For a
// metadata request the timer is never restarted: it bounds the whole
// request. For a content transfer, kick() restarts it when the headers
// arrive and got(n) each time need bytes have arrived since the last
// restart: the transfer fails when a window of d brings fewer than need
// bytes, whether nothing arrives (idle) or a trickle (below the minimum
// rate).
type watchdog struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	d       time.Duration
	need    int64
	pending atomic.Int64 // bytes received in the current window
}

// newWatchdog returns a watchdog firing after d with the message msg.
func newWatchdog(parent context.Context, d time.Duration, msg string) *watchdog {
	return newRateWatchdog(parent, d, 1, func(int64) string { return msg })
}

// newRateWatchdog returns a watchdog that fires when a window of d brings
// fewer than need bytes; msg(got) says why, got being the bytes of the
// window.
func newRateWatchdog(parent context.Context, d time.Duration, need int64, msg func(got int64) string) *watchdog {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watchdog{ctx: ctx, cancel: cancel, d: d, need: max(need, 1)}
	if d > 0 {
		w.timer = time.AfterFunc(d, func() { cancel(&timeoutCause{msg: msg(w.pending.Load())}) })
	}
	return w
}

// kick starts a new window.
func (w *watchdog) kick() {
	if w.timer != nil {
		w.pending.Store(0)
		w.timer.Reset(w.d)
	}
}

// got counts n bytes received, starting a new window once the current
// one has brought enough.
func (w *watchdog) got(n int) {
	if w.timer != nil && w.pending.Add(int64(n)) >= w.need {
		w.kick()
	}
}

func (w *watchdog) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.cancel(context.Canceled)
}

// idleReader reports the data arriving to the watchdog.
type idleReader struct {
	r io.Reader
	w *watchdog
}

func (ir idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.w.got(n)
	}
	return n, err
}

// displayURL drops the query string (CDN URLs carry signatures) and any
// user info.
func displayURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			return clip(u[:i])
		}
		return clip(u)
	}
	p.RawQuery, p.Fragment, p.User = "", "", nil
	return clip(p.String())
}

// transportError turns a failure of http.Client.Do or of a body read into
// an *Error saying what happened: cancellation, one of our timeouts, a
// connect timeout, or an unreachable server.
func (c *Client) transportError(parent context.Context, w *watchdog, t target, u string, err error) *Error {
	du := displayURL(u)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the full URL, query included
	}
	err = redactor(c.Token).wrap(err)
	if perr := parent.Err(); perr != nil {
		return t.errorf(perr, du, nil, "request canceled")
	}
	if w != nil {
		var tc *timeoutCause
		if errors.As(context.Cause(w.ctx), &tc) {
			return t.errorf(ErrTimeout, du, nil, "%s", tc.msg)
		}
	}
	var oe *net.OpError
	if msg := err.Error(); !errors.As(err, &oe) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
		(strings.Contains(msg, "malformed") || strings.Contains(msg, "transport connection broken")) {
		// Go's HTTP client refusing the answer (a control byte in a
		// header, a bad status line or Content-Length), not a failure of
		// the connection: the server was reached.
		return t.errorf(ErrProtocol, du, err, "the answer of %s is not valid HTTP", clip(hostOf(u)))
	}
	if errors.As(err, &oe) && oe.Op == "dial" && oe.Timeout() {
		return t.errorf(ErrTimeout, du, err, "could not connect to %s within %s (connect timeout)",
			hostOf(u), durOr(c.ConnectTimeout, DefaultConnectTimeout))
	}
	return t.errorf(ErrNetwork, du, err, "cannot reach %s", hostOf(u))
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Host
}

// sameOrigin reports whether u is on the configured endpoint (scheme and
// host:port): only such requests carry the token.
func (c *Client) sameOrigin(u *url.URL) bool {
	e, err := url.Parse(c.endpoint())
	if err != nil {
		return false
	}
	return strings.EqualFold(e.Scheme, u.Scheme) && strings.EqualFold(e.Host, u.Host)
}

func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept-Encoding", "identity")
	if c.Token != "" && c.sameOrigin(req.URL) {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// statusText is an answer's status for a message: the code, and the
// server's reason phrase (quoted) when it is not the standard one.
func statusText(resp *http.Response) string {
	reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	if reason == "" || reason == http.StatusText(resp.StatusCode) {
		return fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, weights.Quote(reason))
}

// statusError maps a Hub error answer to an *Error, like huggingface_hub's
// hf_raise_for_status. What the server says (X-Error-Message, or the
// "error" field of a JSON body) is added quoted and cut (quoted).
func (c *Client) statusError(resp *http.Response, t target, u string) *Error {
	code := resp.Header.Get(headerErrorCode)
	srv := redactor(c.Token).clean(strings.TrimSpace(resp.Header.Get(headerErrorMsg)))
	if srv == "" && resp.Body != nil {
		// The Hub also puts the message in a JSON body {"error": "..."}.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var j struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &j) == nil {
			srv = redactor(c.Token).clean(strings.TrimSpace(j.Error))
		}
	}
	du := displayURL(u)
	st := resp.StatusCode
	// Whether this request carried the token: never to another host than
	// the endpoint's (the CDN), and not at all without one.
	sent := resp.Request != nil && resp.Request.Header.Get("Authorization") != ""
	onEndpoint := resp.Request == nil || c.sameOrigin(resp.Request.URL)
	var e *Error
	switch {
	case code == "RevisionNotFound":
		e = t.errorf(ErrRevisionNotFound, du, nil, "revision %q does not exist in repo %s (HTTP %d)", t.revision, t.repoID, st)
	case code == "EntryNotFound":
		e = t.errorf(ErrEntryNotFound, du, nil, "file %q does not exist in repo %s at revision %s (HTTP %d)", t.filename, t.repoID, t.revision, st)
	case code == "GatedRepo":
		e = t.errorf(ErrGatedRepo, du, nil, "repo %s is gated (HTTP %d): accept its access conditions at %s/%s and use a token of that account (HF_TOKEN)",
			t.repoID, st, c.endpoint(), t.repoID)
	case (st == http.StatusUnauthorized || code == "RepoNotFound") && !onEndpoint:
		e = t.errorf(ErrForbidden, du, nil, "the download host %s refused the request (HTTP %d); no token was sent to it: the token (HF_TOKEN) goes only to the Hub's own host %s, and the signed download URL it redirected to may have expired: run again",
			clip(hostOf(u)), st, clip(hostOf(c.endpoint())))
	case code == "RepoNotFound" || st == http.StatusUnauthorized:
		hint := "it may not exist, or it may be private or gated: no token was sent; to send one, set HF_TOKEN or write it to the token file ($HF_HOME/token, or HF_TOKEN_PATH)"
		if sent {
			hint = "it may not exist, or the token that was sent does not give access to it (private or gated repo)"
		}
		e = t.errorf(ErrRepoNotFound, du, nil, "repository %s not found (HTTP %d): %s", t.repoID, st, hint)
	case st == http.StatusForbidden:
		e = t.errorf(ErrForbidden, du, nil, "access forbidden (HTTP 403): check that the token (HF_TOKEN) can read repo %s", t.repoID)
	case st == http.StatusNotFound:
		e = t.errorf(ErrHTTP, du, nil, "not found (HTTP 404, no X-Error-Code): the repo, revision or file does not exist, or %s is not a Hugging Face Hub endpoint", c.endpoint())
	case st == http.StatusTooManyRequests:
		e = t.errorf(ErrHTTP, du, nil, "rate limited by the server (HTTP 429): retry later, or use a token (HF_TOKEN)")
	default:
		e = t.errorf(ErrHTTP, du, nil, "unexpected HTTP status %s", statusText(resp))
	}
	e.Status = st
	if srv != "" {
		e.Msg += " (server said: " + weights.Quote(srv) + ")"
	}
	return e
}

// fileMeta is what a HEAD on a resolve URL says about a file, as in
// huggingface_hub's HfFileMetadata.
type fileMeta struct {
	commit   string // X-Repo-Commit
	etag     string // X-Linked-Etag or ETag, normalized
	size     int64  // X-Linked-Size or Content-Length; -1 when unknown
	location string // where to GET the content (the CDN for LFS files)
}

// head fetches file metadata, retrying server errors (withRetries).
// Relative redirects (renamed repos) are followed; an absolute one (the
// CDN) is not, its Location is recorded.
func (c *Client) head(ctx context.Context, t target, u string) (meta fileMeta, resp *http.Response, err error) {
	err = c.withRetries(ctx, "HEAD "+displayURL(u), func() error {
		meta, resp, err = c.headOnce(ctx, t, u)
		return err
	})
	return meta, resp, err
}

func (c *Client) headOnce(ctx context.Context, t target, u string) (fileMeta, *http.Response, error) {
	d := durOr(c.MetadataTimeout, DefaultMetadataTimeout)
	w := newWatchdog(ctx, d, fmt.Sprintf("no answer to the metadata request within %s (metadata timeout, HF_HUB_ETAG_TIMEOUT)", d))
	defer w.stop()
	hc := c.noRedirect()
	for hops := 0; ; hops++ {
		req, err := c.newRequest(w.ctx, http.MethodHead, u)
		if err != nil {
			return fileMeta{}, nil, t.errorf(ErrInvalidArgument, displayURL(u), err, "cannot build request")
		}
		c.logf("HEAD %s", displayURL(u))
		resp, err := hc.Do(req)
		if err != nil {
			return fileMeta{}, nil, c.transportError(ctx, w, t, u, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil || resp.Header.Get("Location") == "" {
				return fileMeta{}, resp, t.errorf(ErrProtocol, displayURL(u), nil, "redirect (HTTP %d) without a usable Location (%s)", resp.StatusCode, weights.Quote(resp.Header.Get("Location")))
			}
			rel, _ := url.Parse(resp.Header.Get("Location"))
			if rel.Host == "" {
				if hops >= maxRedirects {
					return fileMeta{}, resp, t.errorf(ErrProtocol, displayURL(u), nil, "more than %d redirects (a redirect loop?)", maxRedirects)
				}
				// Relative redirect (renamed repo): follow it, as
				// huggingface_hub does.
				u = loc.String()
				continue
			}
			return c.metaFrom(resp, t, u, loc.String())
		}
		if resp.StatusCode >= 400 {
			return fileMeta{}, resp, c.statusError(resp, t, u)
		}
		return c.metaFrom(resp, t, u, u)
	}
}

func (c *Client) metaFrom(resp *http.Response, t target, u, location string) (fileMeta, *http.Response, error) {
	m := fileMeta{
		commit:   resp.Header.Get(headerRepoCommit),
		etag:     normalizeEtag(resp.Header.Get(headerLinkedEtag)),
		size:     -1,
		location: location,
	}
	if m.etag == "" {
		m.etag = normalizeEtag(resp.Header.Get("ETag"))
	}
	du := displayURL(u)
	// The size, as huggingface_hub's get_hf_file_metadata takes it:
	// X-Linked-Size, else (not on a redirect, whose Content-Length is that
	// of the redirect itself) Content-Length. Without one the file is
	// refused, as huggingface_hub refuses it ("Distant resource does not
	// have a Content-Length"): nothing would bound the transfer.
	sizeHeader := headerLinkedSize
	sizeValue := resp.Header.Get(headerLinkedSize)
	if sizeValue == "" && (resp.StatusCode < 300 || resp.StatusCode >= 400) {
		sizeHeader, sizeValue = "Content-Length", resp.Header.Get("Content-Length")
	}
	if sizeValue != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(sizeValue), 10, 64); err == nil && n >= 0 {
			m.size = n
		}
	}
	switch {
	case m.commit == "":
		return m, resp, t.errorf(ErrProtocol, du, nil, "answer has no %s header: the server does not look like a Hugging Face Hub", headerRepoCommit)
	case !IsCommitHash(m.commit):
		return m, resp, t.errorf(ErrProtocol, du, nil, "answer has a malformed %s header %s", headerRepoCommit, weights.Quote(m.commit))
	case m.etag == "":
		return m, resp, t.errorf(ErrProtocol, du, nil, "answer has no ETag: the file version cannot be identified")
	case !safeEtagRe.MatchString(m.etag) || len(m.etag) > 128:
		return m, resp, t.errorf(ErrProtocol, du, nil, "answer has an ETag %s that is not a usable blob name", weights.Quote(m.etag))
	case sizeValue == "":
		return m, resp, t.errorf(ErrProtocol, du, nil, "answer announces no size (no %s or Content-Length header; a redirect needs %s): the download could not be bounded or verified, refusing it as huggingface_hub does",
			headerLinkedSize, headerLinkedSize)
	case m.size < 0:
		return m, resp, t.errorf(ErrProtocol, du, nil, "answer has a %s header %s that is not a size in bytes: the download could not be bounded or verified",
			sizeHeader, weights.Quote(sizeValue))
	}
	return m, resp, nil
}

// resolveRevision asks /api/models/{repo}/revision/{rev} for the commit
// a branch or tag points to, retrying server errors (withRetries).
func (c *Client) resolveRevision(ctx context.Context, t target) (commit string, err error) {
	err = c.withRetries(ctx, "revision "+t.revision, func() error {
		commit, err = c.resolveRevisionOnce(ctx, t)
		return err
	})
	return commit, err
}

func (c *Client) resolveRevisionOnce(ctx context.Context, t target) (string, error) {
	u := c.endpoint() + "/api/models/" + t.repoID + "/revision/" + url.PathEscape(t.revision)
	d := durOr(c.MetadataTimeout, DefaultMetadataTimeout)
	w := newWatchdog(ctx, d, fmt.Sprintf("no answer to the revision request within %s (metadata timeout, HF_HUB_ETAG_TIMEOUT)", d))
	defer w.stop()
	req, err := c.newRequest(w.ctx, http.MethodGet, u)
	if err != nil {
		return "", t.errorf(ErrInvalidArgument, u, err, "cannot build request")
	}
	req.Header.Set("Accept", "application/json")
	c.logf("GET %s", u)
	resp, err := c.noRedirect().Do(req)
	if err != nil {
		return "", c.transportError(ctx, w, t, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", c.statusError(resp, t, u)
	}
	var info struct {
		SHA string `json:"sha"`
	}
	// The metadata timeout bounds the whole answer, body included: a body
	// trickling in does not extend it.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", c.transportError(ctx, w, t, u, err)
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", t.errorf(ErrProtocol, u, err, "revision info is not valid JSON")
	}
	if !IsCommitHash(info.SHA) {
		return "", t.errorf(ErrProtocol, u, nil, "revision info has no usable commit hash (sha %s)", weights.Quote(info.SHA))
	}
	return info.SHA, nil
}
