package hub

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error kinds. Every error returned by [Client.Download] and
// [Client.DownloadRepoFiles] for a known cause is an [*Error] whose Kind is
// one of these, so callers can test it with errors.Is.
var (
	// ErrInvalidArgument: a repo id, revision or filename that is malformed
	// or would escape the cache directory. No request is made.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrRepoNotFound: the Hub answered RepoNotFound (or 401): the repo does
	// not exist, or it is private/gated and no valid token was sent.
	ErrRepoNotFound = errors.New("repository not found")
	// ErrRevisionNotFound: the branch, tag or commit does not exist.
	ErrRevisionNotFound = errors.New("revision not found")
	// ErrEntryNotFound: the file does not exist in the repo at that revision.
	ErrEntryNotFound = errors.New("file not found in repository")
	// ErrGatedRepo: the repo is gated and the token (if any) has not been
	// granted access.
	ErrGatedRepo = errors.New("gated repository")
	// ErrForbidden: the Hub refused access (403) without a more precise
	// code, or the download host (CDN) answered 401, the token never being
	// sent there.
	ErrForbidden = errors.New("access forbidden")
	// ErrHTTP: any other unexpected HTTP status.
	ErrHTTP = errors.New("unexpected HTTP response")
	// ErrNetwork: the server could not be reached or the connection failed.
	ErrNetwork = errors.New("network error")
	// ErrTimeout: a connect, metadata or idle-read timeout expired, a
	// transfer stayed below the minimum rate, or the wait for another
	// download's lock made no progress for the lock timeout.
	ErrTimeout = errors.New("timeout")
	// ErrInterrupted: the transfer of a file body stopped before its end.
	// The partial data stays in blobs/<etag>.incomplete; a rerun resumes it.
	ErrInterrupted = errors.New("transfer interrupted")
	// ErrIntegrity: the downloaded bytes do not match the announced size or
	// sha256, or a gzip-encoded body is corrupt. Nothing is kept.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrNotCached: offline mode is on (or the file is known not to exist)
	// and the cache does not hold the requested file.
	ErrNotCached = errors.New("file not in cache")
	// ErrProtocol: the server's answer lacks what the Hub protocol requires
	// (X-Repo-Commit, ETag, a size) or holds unusable values: a 206 to a
	// request without Range, an unsupported Content-Encoding, a commit other
	// than the one asked for or than the other files' of one download, an
	// answer that is not valid HTTP.
	ErrProtocol = errors.New("not a Hugging Face Hub response")
	// ErrCache: the cache directory could not be read or written (a full
	// disk is named as such), or the file is larger than its free space.
	ErrCache = errors.New("cache error")
)

// Error describes a failed Hub operation. Its message names the repo,
// revision, file and URL involved; it never contains the access token.
type Error struct {
	Kind     error  // one of the Err* values above
	RepoID   string // repo id as given
	Revision string // revision as given
	Filename string // path of the file inside the repo, if any
	URL      string // URL involved, without query string
	Status   int    // HTTP status, 0 when none
	Msg      string // human explanation, complete sentence fragment
	Err      error  // underlying error, if any
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("hub: ")
	b.WriteString(e.Msg)
	var where []string
	if e.RepoID != "" {
		where = append(where, "repo "+e.RepoID)
	}
	if e.Revision != "" {
		where = append(where, "revision "+e.Revision)
	}
	if e.Filename != "" {
		where = append(where, "file "+e.Filename)
	}
	if e.URL != "" {
		where = append(where, "url "+e.URL)
	}
	if len(where) > 0 {
		b.WriteString(" [")
		b.WriteString(strings.Join(where, ", "))
		b.WriteString("]")
	}
	if e.Err != nil {
		// The underlying error may repeat what the server sent (Go's HTTP
		// client quotes a malformed header line whole): escaped and cut.
		b.WriteString(": ")
		b.WriteString(clipN(e.Err.Error(), 2*maxShown))
	}
	return b.String()
}

// Unwrap returns the error kind and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// target identifies one file request, for error messages.
type target struct {
	repoID, revision, filename string
}

func (t target) errorf(kind error, url string, err error, format string, args ...any) *Error {
	return &Error{
		Kind:     kind,
		RepoID:   t.repoID,
		Revision: t.revision,
		Filename: t.filename,
		URL:      url,
		Msg:      fmt.Sprintf(format, args...),
		Err:      err,
	}
}

// redactor removes a secret from text that may reach the user.
type redactor string

func (r redactor) clean(s string) string {
	if r == "" {
		return s
	}
	return strings.ReplaceAll(s, string(r), "[REDACTED]")
}

// redactedError wraps an error whose text may contain the token.
type redactedError struct {
	err error
	r   redactor
}

func (e *redactedError) Error() string { return e.r.clean(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

func (r redactor) wrap(err error) error {
	if err == nil || r == "" {
		return err
	}
	return &redactedError{err: err, r: r}
}

// maxShown is the most bytes of one server-supplied value an error shows.
const maxShown = 200

// clip makes a value that is mostly well-formed (a URL) safe to show
// unquoted: runes that are not printable are escaped as in a Go string
// literal, and the result is cut after maxShown bytes.
func clip(s string) string { return clipN(s, maxShown) }

// clipN is clip with a limit of n bytes.
func clipN(s string, n int) string {
	var b strings.Builder
	for i, r := range s {
		if b.Len() >= n {
			fmt.Fprintf(&b, "… (%d bytes in all)", len(s))
			break
		}
		if r == utf8.RuneError && len(s[i:]) > 0 {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
				continue
			}
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
