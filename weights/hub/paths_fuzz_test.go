package hub

import (
	"path/filepath"
	"strings"
	"testing"
)

// within reports whether p is root or below it.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// FuzzCachePaths: whatever repo id, revision, file name and server-sent
// commit and ETag, a request the client accepts only ever names paths
// inside the repo's cache folder (no ../ escape, no absolute path), and the
// URL it would request stays on the endpoint.
func FuzzCachePaths(f *testing.F) {
	f.Add("LabCoreAI/tiny-gpt", "main", "model.safetensors", "0123456789abcdef0123456789abcdef01234567", `"abc"`)
	f.Add("gpt2", "refs/pr/1", "sub/dir/config.json", "0123456789abcdef0123456789abcdef01234567", `W/"0123"`)
	f.Add("a/../b", "..", "../../etc/passwd", "../../x", `"../x"`)
	f.Add("org/model", "v1.0", "a/./b", "", "")
	f.Add("org/model", "main", "C:\\x", "", "..")
	f.Fuzz(func(t *testing.T, repoID, revision, filename, commit, etag string) {
		if filename == "" {
			return // Download and DownloadRepoFiles refuse it before check
		}
		c := &Client{Endpoint: "https://hub.example", CacheDir: "/cache"}
		tg := target{repoID: repoID, revision: revision, filename: filename}
		if c.check(tg) != nil {
			return
		}
		rc := newRepoCache(c.CacheDir, repoID)
		if !within(c.CacheDir, rc.root) || filepath.Dir(rc.root) != filepath.Clean(c.CacheDir) {
			t.Fatalf("repo %q: folder %s", repoID, rc.root)
		}
		if !within(filepath.Join(c.CacheDir, ".locks"), rc.locks) {
			t.Fatalf("repo %q: locks %s", repoID, rc.locks)
		}
		if p := rc.refPath(revision); !within(filepath.Join(rc.root, "refs"), p) || p == filepath.Join(rc.root, "refs") {
			t.Fatalf("revision %q: ref %s", revision, p)
		}
		for _, rev := range []string{revision, commit} {
			if IsCommitHash(rev) || rev == revision {
				snap := filepath.Join(rc.root, "snapshots")
				if p := rc.pointerPath(rev, filename); !within(snap, p) || filepath.Dir(p) == snap {
					t.Fatalf("revision %q file %q: pointer %s", rev, filename, p)
				}
				if p := rc.noExistPath(rev, filename); !within(filepath.Join(rc.root, ".no_exist"), p) {
					t.Fatalf("revision %q file %q: no_exist %s", rev, filename, p)
				}
			}
		}
		if e := normalizeEtag(etag); safeEtagRe.MatchString(e) && len(e) <= 128 {
			blobs := filepath.Join(rc.root, "blobs")
			if p := rc.blobPath(e); filepath.Dir(p) != blobs {
				t.Fatalf("etag %q: blob %s", etag, p)
			}
		}
		u := c.resolveURL(repoID, revision, filename)
		if !strings.HasPrefix(u, "https://hub.example/") || hostOf(u) != "hub.example" {
			t.Fatalf("URL %s leaves the endpoint", u)
		}
		displayURL(u)
	})
}
