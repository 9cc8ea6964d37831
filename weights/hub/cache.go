package hub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
)

var (
	// Same shape as huggingface_hub's REPO_ID_REGEX, restricted to ASCII:
	// optional "namespace/" then name; each part starts and ends with a
	// word character.
	repoIDPart   = regexp.MustCompile(`^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)
	commitRe     = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256Re     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	safeEtagRe   = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)
	maxRepoIDLen = 96
)

// IsCommitHash reports whether rev is a full 40-hex git commit hash, the
// form huggingface_hub treats as immutable.
func IsCommitHash(rev string) bool { return commitRe.MatchString(rev) }

// validateRepoID applies huggingface_hub's repo id rules; anything accepted
// maps to a single directory name inside the cache.
func validateRepoID(id string) error {
	if id == "" {
		return errors.New("repo id is empty")
	}
	if len(id) > maxRepoIDLen {
		return fmt.Errorf("repo id %q is longer than %d characters", id, maxRepoIDLen)
	}
	if strings.Contains(id, "--") || strings.Contains(id, "..") {
		return fmt.Errorf("repo id %q must not contain \"--\" or \"..\"", id)
	}
	if strings.HasSuffix(id, ".git") {
		return fmt.Errorf("repo id %q must not end with .git", id)
	}
	parts := strings.Split(id, "/")
	if len(parts) > 2 {
		return fmt.Errorf("repo id %q must be \"name\" or \"namespace/name\"", id)
	}
	for _, p := range parts {
		if !repoIDPart.MatchString(p) {
			return fmt.Errorf("repo id %q: part %q may only use letters, digits, '_', '-', '.' and must start and end with a letter, digit or '_'", id, p)
		}
	}
	return nil
}

// validateRelPath checks a slash-separated path that becomes a path under
// the cache (a filename inside the repo, or a revision used under refs/).
func validateRelPath(what, p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%s is empty", what)
	case strings.ContainsRune(p, '\\'):
		return fmt.Errorf("%s %q contains a backslash", what, p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s %q is absolute", what, p)
	case filepath.IsAbs(p) || filepath.VolumeName(p) != "":
		return fmt.Errorf("%s %q is absolute", what, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q contains a control character", what, p)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%s %q has an empty path element", what, p)
		case ".", "..":
			return fmt.Errorf("%s %q has a %q path element", what, p, seg)
		}
	}
	return nil
}

// repoFolderName is huggingface_hub's repo_folder_name for models:
// "models--ORG--NAME".
func repoFolderName(repoID string) string {
	return "models--" + strings.ReplaceAll(repoID, "/", "--")
}

// normalizeEtag strips a weak-validator prefix and quotes, like
// huggingface_hub's _normalize_etag.
func normalizeEtag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}

// repoCache holds the paths of one repo's cache folder.
type repoCache struct {
	root  string // <cache>/models--ORG--NAME
	locks string // <cache>/.locks/models--ORG--NAME
}

func newRepoCache(cacheDir, repoID string) repoCache {
	name := repoFolderName(repoID)
	return repoCache{
		root:  filepath.Join(cacheDir, name),
		locks: filepath.Join(cacheDir, ".locks", name),
	}
}

func (rc repoCache) refPath(revision string) string {
	return filepath.Join(rc.root, "refs", filepath.FromSlash(revision))
}

func (rc repoCache) pointerPath(commit, filename string) string {
	return filepath.Join(rc.root, "snapshots", commit, filepath.FromSlash(filename))
}

func (rc repoCache) blobPath(etag string) string {
	return filepath.Join(rc.root, "blobs", etag)
}

func (rc repoCache) noExistPath(commit, filename string) string {
	return filepath.Join(rc.root, ".no_exist", commit, filepath.FromSlash(filename))
}

// readRef returns the commit recorded in refs/<revision>, or "" if none.
func (rc repoCache) readRef(revision string) string {
	b, err := os.ReadFile(rc.refPath(revision))
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(b))
	if !IsCommitHash(c) {
		return ""
	}
	return c
}

// writeRef records revision -> commit (only when they differ), rewriting
// the file only when its content changes, as huggingface_hub does.
func (rc repoCache) writeRef(revision, commit string) error {
	if revision == commit {
		return nil
	}
	p := rc.refPath(revision)
	if b, err := os.ReadFile(p); err == nil && string(b) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := tmpName(p)
	if err := os.WriteFile(tmp, []byte(commit), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

var tmpCounter atomic.Uint64

// tmpName returns a sibling name of p unique to this process and call.
func tmpName(p string) string {
	return fmt.Sprintf("%s.tmp-%d-%d", p, os.Getpid(), tmpCounter.Add(1))
}

// lookup returns the snapshot path of filename for revision if the cache
// holds it (a branch or tag goes through refs/), and the places it looked.
func (rc repoCache) lookup(revision, filename string) (path string, looked []string) {
	commit := revision
	if !IsCommitHash(revision) {
		looked = append(looked, rc.refPath(revision))
		commit = rc.readRef(revision)
		if commit == "" {
			return "", looked
		}
	}
	p := rc.pointerPath(commit, filename)
	looked = append(looked, p)
	if regularFile(p) {
		return p, looked
	}
	return "", looked
}

// knownMissing reports whether a previous run recorded (like
// huggingface_hub's .no_exist) that filename is absent at revision.
func (rc repoCache) knownMissing(revision, filename string) bool {
	commit := revision
	if !IsCommitHash(revision) {
		commit = rc.readRef(revision)
		if commit == "" {
			return false
		}
	}
	return regularFile(rc.noExistPath(commit, filename))
}

// markMissing records that filename does not exist at commit.
func (rc repoCache) markMissing(commit, filename string) error {
	p := rc.noExistPath(commit, filename)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// regularFile reports whether p exists and (after following symlinks) is a
// regular file. A dangling snapshot link is not a cached file.
func regularFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// link points pointer at blob with a relative symlink
// (snapshots/<commit>/<file> -> ../../blobs/<etag>), replacing whatever was
// there atomically.
func link(blob, pointer string) error {
	dir := filepath.Dir(pointer)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	absBlob, err := filepath.Abs(blob)
	if err != nil {
		return err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(absDir, absBlob)
	if err != nil {
		rel = absBlob
	}
	if cur, err := os.Readlink(pointer); err == nil && cur == rel {
		return nil
	}
	tmp := tmpName(pointer)
	if err := os.Symlink(rel, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, pointer); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
