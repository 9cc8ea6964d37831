package hub

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/weights/hub/hubtest"
)

// Second round of misbehaving servers (issue 12): each test runs a real
// HTTP server on localhost that answers wrongly, and checks the error and
// that the cache trusts nothing it was sent.

// okGet answers the misServer's correct content.
func okGet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
	w.Write(misData)
}

// writeIncomplete leaves a partial LFS download of misData's first n bytes
// in c's cache, as an interrupted run would.
func writeIncomplete(t *testing.T, c *Client, s *misServer, n int) string {
	t.Helper()
	p := filepath.Join(c.CacheDir, "models--org--model", "blobs", s.etag()+".incomplete")
	mustOK(t, os.MkdirAll(filepath.Dir(p), 0o755))
	mustOK(t, os.WriteFile(p, misData[:n], 0o644))
	return p
}

func TestPartialContentAnswers(t *testing.T) {
	ctx := context.Background()
	t.Run("206 without Range, not from byte 0", func(t *testing.T) {
		for _, lfs := range []bool{false, true} {
			s := newMisServer(t, lfs)
			s.get = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 100-%d/%d", len(misData)-1, len(misData)))
				w.Header().Set("Content-Length", strconv.Itoa(len(misData)-100))
				w.WriteHeader(http.StatusPartialContent)
				w.Write(misData[100:])
			}
			c := s.client(t)
			start := time.Now()
			_, err := c.Download(ctx, misRepo, "main", misFile)
			wantKind(t, err, ErrProtocol, "206", "without Range", `"bytes 100-65535/65536"`)
			if n := s.gets.Load(); n != 1 {
				t.Errorf("lfs=%v: %d GET requests, want 1", lfs, n)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("lfs=%v: took %s", lfs, d)
			}
			cacheUntrusted(t, c, s, false)
		}
	})
	t.Run("206 without Range from byte 0 is the file", func(t *testing.T) {
		s := newMisServer(t, true)
		s.get = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(misData)-1, len(misData)))
			w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(misData)
		}
		c := s.client(t)
		p, err := c.Download(ctx, misRepo, "main", misFile)
		mustOK(t, err)
		if b, _ := os.ReadFile(p); !bytes.Equal(b, misData) {
			t.Error("content differs")
		}
	})
	t.Run("resume answered from the wrong offset, always", func(t *testing.T) {
		// Every answer is a 206 from byte 100, Range or not: the client
		// restarts from 0 once, then gives up.
		s := newMisServer(t, true)
		s.get = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 100-%d/%d", len(misData)-1, len(misData)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(misData[100:])
		}
		c := s.client(t)
		writeIncomplete(t, c, s, 1000)
		_, err := c.Download(ctx, misRepo, "main", misFile)
		wantKind(t, err, ErrProtocol, "206", `"bytes 100-65535/65536"`)
		if n := s.gets.Load(); n != 2 {
			t.Errorf("%d GET requests, want 2 (the Range, then one from byte 0)", n)
		}
		cacheUntrusted(t, c, s, true)
	})
	t.Run("resume: 416 then 206 from 0 restarts cleanly", func(t *testing.T) {
		s := newMisServer(t, true)
		s.get = func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "" {
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(misData)-1, len(misData)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(misData)
		}
		c := s.client(t)
		inc := writeIncomplete(t, c, s, 1000)
		mustOK(t, os.WriteFile(inc, bytes.Repeat([]byte{'x'}, 1000), 0o644)) // a wrong prefix: must be dropped
		p, err := c.Download(ctx, misRepo, "main", misFile)
		mustOK(t, err)
		if b, _ := os.ReadFile(p); !bytes.Equal(b, misData) {
			t.Error("content differs")
		}
	})
	t.Run("resume with a Content-Range total disagreeing with the metadata", func(t *testing.T) {
		s := newMisServer(t, true)
		s.get = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 1000-%d/%d", len(misData)-1, len(misData)+7))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(misData[1000:])
		}
		c := s.client(t)
		writeIncomplete(t, c, s, 1000)
		_, err := c.Download(ctx, misRepo, "main", misFile)
		wantKind(t, err, ErrIntegrity, strconv.Itoa(len(misData)+7), strconv.Itoa(len(misData)))
		cacheUntrusted(t, c, s, false)
	})
}

func TestNoAnnouncedSizeRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		lfs   bool
		head  func(s *misServer, w http.ResponseWriter)
		wants []string
	}{
		{"no Content-Length, no X-Linked-Size", false, func(s *misServer, w http.ResponseWriter) {
			w.Header().Set(headerRepoCommit, misCommit)
			w.Header().Set("ETag", `"`+s.etag()+`"`)
		}, []string{"announces no size", "huggingface_hub"}},
		{"redirect with Content-Length only", true, func(s *misServer, w http.ResponseWriter) {
			w.Header().Set(headerRepoCommit, misCommit)
			w.Header().Set(headerLinkedEtag, `"`+s.etag()+`"`)
			w.Header().Set("Location", s.URL+"/cdn/"+s.etag())
			w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
			w.WriteHeader(http.StatusFound)
		}, []string{"announces no size", headerLinkedSize}},
		{"X-Linked-Size not a number", true, func(s *misServer, w http.ResponseWriter) {
			s.metaHeaders(w)
			w.Header().Set(headerLinkedSize, "lots")
			w.WriteHeader(http.StatusFound)
		}, []string{headerLinkedSize, `"lots"`, "not a size"}},
		{"X-Linked-Size negative", true, func(s *misServer, w http.ResponseWriter) {
			s.metaHeaders(w)
			w.Header().Set(headerLinkedSize, "-1")
			w.WriteHeader(http.StatusFound)
		}, []string{headerLinkedSize, `"-1"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMisServer(t, tc.lfs)
			s.head = func(w http.ResponseWriter, r *http.Request) { tc.head(s, w) }
			// An endless body, never to be asked for.
			s.get = func(w http.ResponseWriter, r *http.Request) {
				for {
					if _, err := w.Write(misData); err != nil {
						return
					}
				}
			}
			c := s.client(t)
			_, err := c.Download(ctx, misRepo, "main", misFile)
			wantKind(t, err, ErrProtocol, tc.wants...)
			if n := s.gets.Load(); n != 0 {
				t.Errorf("%d GET requests after a metadata answer without size", n)
			}
			cacheUntrusted(t, c, s, false)
		})
	}
}

func TestCommitsOfOneSnapshotMustAgree(t *testing.T) {
	ctx := context.Background()
	other := hubtest.Commit("other")
	// The HEAD of misFile names other, every other file misCommit.
	split := func(s *misServer) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			s.metaHeaders(w)
			if strings.HasSuffix(r.URL.Path, "/"+misFile) {
				w.Header().Set(headerRepoCommit, other)
			}
		}
	}
	check := func(t *testing.T, c *Client) {
		t.Helper()
		root := filepath.Join(c.CacheDir, "models--org--model")
		if _, err := os.Stat(filepath.Join(root, "snapshots", other)); err == nil {
			t.Errorf("a snapshot of commit %s was created", other)
		}
		if b, err := os.ReadFile(filepath.Join(root, "refs", "main")); err == nil && string(b) != misCommit {
			t.Errorf("refs/main is %s", b)
		}
	}
	t.Run("revision API pins one commit", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = split(s)
		c := s.client(t)
		_, err := c.DownloadRepoFiles(ctx, misRepo, "main", misSmall, misFile)
		wantKind(t, err, ErrProtocol, "different commits", misCommit, other, misFile, "revision API")
		check(t, c)
	})
	t.Run("per file, without the revision API", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = split(s)
		s.revision = func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
		c := s.client(t)
		_, err := c.DownloadRepoFiles(ctx, misRepo, "main", misSmall, misFile)
		wantKind(t, err, ErrProtocol, "different commits", misSmall+" is at commit "+misCommit, misFile, other)
		check(t, c)
		// The refusal is not a half-done snapshot: offline, the first file
		// is there, the second is reported missing.
		c.Offline = true
		if _, err := c.DownloadRepoFiles(ctx, misRepo, "main", misSmall, misFile); !errors.Is(err, ErrNotCached) {
			t.Errorf("offline rerun: %v", err)
		}
	})
	t.Run("a commit revision answered with another commit", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = split(s)
		c := s.client(t)
		_, err := c.Download(ctx, misRepo, misCommit, misFile)
		wantKind(t, err, ErrProtocol, "asked for commit "+misCommit, other)
		check(t, c)
	})
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	mustOK(t, err)
	mustOK(t, zw.Close())
	return buf.Bytes()
}

func TestContentEncoding(t *testing.T) {
	ctx := context.Background()
	serveEncoded := func(enc string, body []byte) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", enc)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		}
	}
	t.Run("gzip is decoded and verified on the decoded bytes", func(t *testing.T) {
		for _, lfs := range []bool{false, true} {
			s := newMisServer(t, lfs)
			s.get = serveEncoded("gzip", gzipped(t, misData))
			c := s.client(t)
			p, err := c.Download(ctx, misRepo, "main", misSmall)
			mustOK(t, err)
			if b, _ := os.ReadFile(p); !bytes.Equal(b, misData) {
				t.Fatalf("lfs=%v: the cache holds %d bytes that are not the decoded content", lfs, len(b))
			}
		}
	})
	for _, tc := range []struct {
		name  string
		enc   string
		body  func(t *testing.T) []byte
		kind  error
		wants []string
	}{
		{"gzip of other content", "gzip", func(t *testing.T) []byte { return gzipped(t, misData[:1000]) },
			ErrIntegrity, []string{"received 1000 bytes, expected 65536"}},
		{"gzip bomb", "gzip", func(t *testing.T) []byte { return gzipped(t, make([]byte, 64<<20)) },
			ErrIntegrity, []string{"more than the 65536 bytes announced"}},
		{"not gzip", "gzip", func(t *testing.T) []byte { return misData },
			ErrIntegrity, []string{"not valid gzip"}},
		{"corrupt gzip", "gzip", func(t *testing.T) []byte {
			z := gzipped(t, misData)
			z[len(z)/2] ^= 0xff
			return z
		}, ErrIntegrity, []string{"corrupt"}},
		{"brotli", "br", func(t *testing.T) []byte { return misData },
			ErrProtocol, []string{`Content-Encoding "br"`, "not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMisServer(t, false)
			s.get = serveEncoded(tc.enc, tc.body(t))
			c := s.client(t)
			_, err := c.Download(ctx, misRepo, "main", misFile)
			wantKind(t, err, tc.kind, tc.wants...)
			cacheUntrusted(t, c, s, false)
		})
	}
	t.Run("gzip answer to a Range request", func(t *testing.T) {
		s := newMisServer(t, true)
		z := gzipped(t, misData[1000:])
		s.get = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 1000-%d/%d", len(misData)-1, len(misData)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(z)
		}
		c := s.client(t)
		writeIncomplete(t, c, s, 1000)
		_, err := c.Download(ctx, misRepo, "main", misFile)
		wantKind(t, err, ErrProtocol, "Range", "gzip", "next run starts again")
		cacheUntrusted(t, c, s, false)
	})
}

func TestLockWait(t *testing.T) {
	ctx := context.Background()
	lockOf := func(c *Client, s *misServer) string {
		return filepath.Join(c.CacheDir, ".locks", "models--org--model", s.etag()+".lock")
	}
	t.Run("held and no progress: announced, then given up", func(t *testing.T) {
		s := newMisServer(t, true)
		c := s.client(t)
		var warn syncBuffer
		c.Warn = &warn
		c.LockTimeout = 200 * time.Millisecond
		lp := lockOf(c, s)
		l, ok, err := tryLockFile(lp) // another download holds the lock
		if err != nil || !ok {
			t.Fatalf("taking the lock: %v %v", ok, err)
		}
		defer l.unlock()
		start := time.Now()
		_, err = c.Download(ctx, misRepo, "main", misFile)
		wantKind(t, err, ErrTimeout, "gave up waiting for the lock", lp, "HF_HUB_LOCK_TIMEOUT", "200ms")
		if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
			t.Errorf("gave up after %s, want about 200ms", d)
		}
		if !strings.Contains(warn.String(), "waiting for the lock "+lp) {
			t.Errorf("the wait was not announced: %q", warn.String())
		}
		if n := s.gets.Load(); n != 0 {
			t.Errorf("%d GET requests while another download holds the lock", n)
		}
	})
	t.Run("released while waiting", func(t *testing.T) {
		s := newMisServer(t, true)
		c := s.client(t)
		var warn syncBuffer
		c.Warn = &warn
		c.LockTimeout = 5 * time.Second
		l, ok, err := tryLockFile(lockOf(c, s))
		if err != nil || !ok {
			t.Fatalf("taking the lock: %v %v", ok, err)
		}
		time.AfterFunc(100*time.Millisecond, l.unlock)
		p, err := c.Download(ctx, misRepo, "main", misFile)
		mustOK(t, err)
		if b, _ := os.ReadFile(p); !bytes.Equal(b, misData) {
			t.Error("content differs")
		}
		if !strings.Contains(warn.String(), "waiting for the lock") {
			t.Errorf("the wait was not announced: %q", warn.String())
		}
	})
	t.Run("the other download progresses: no timeout", func(t *testing.T) {
		s := newMisServer(t, true)
		c := s.client(t)
		c.Warn = &syncBuffer{}
		c.LockTimeout = 400 * time.Millisecond
		l, ok, err := tryLockFile(lockOf(c, s))
		if err != nil || !ok {
			t.Fatalf("taking the lock: %v %v", ok, err)
		}
		inc := writeIncomplete(t, c, s, 1)
		// The holder writes a byte every 25ms for 1s (2.5 timeouts), then
		// dies without finishing.
		done := make(chan struct{})
		go func() {
			defer close(done)
			f, err := os.OpenFile(inc, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return
			}
			for i := 1; i <= 40; i++ {
				time.Sleep(25 * time.Millisecond)
				f.Write(misData[i : i+1])
			}
			f.Close()
			l.unlock()
		}()
		p, err := c.Download(ctx, misRepo, "main", misFile)
		<-done
		mustOK(t, err)
		if b, _ := os.ReadFile(p); !bytes.Equal(b, misData) {
			t.Error("content differs")
		}
	})
	t.Run("canceled while waiting", func(t *testing.T) {
		s := newMisServer(t, true)
		c := s.client(t)
		c.LockTimeout = time.Hour
		l, ok, err := tryLockFile(lockOf(c, s))
		if err != nil || !ok {
			t.Fatalf("taking the lock: %v %v", ok, err)
		}
		defer l.unlock()
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err = c.Download(cctx, misRepo, "main", misFile)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("canceled wait: %v", err)
		}
	})
}

func TestTricklingBody(t *testing.T) {
	for _, lfs := range []bool{false, true} {
		t.Run(fmt.Sprintf("lfs=%v", lfs), func(t *testing.T) {
			// A byte every 20ms: never idle for the 200ms read timeout,
			// but 50 bytes/s, under the 1000 bytes/s asked for.
			s := newMisServer(t, lfs)
			var sent atomic.Int64
			s.get = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
				for i := range misData {
					if _, err := w.Write(misData[i : i+1]); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					sent.Add(1)
					select {
					case <-r.Context().Done():
						return
					case <-s.release:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
			c := s.client(t)
			c.ReadTimeout = 200 * time.Millisecond
			c.MinRate = 1000
			start := time.Now()
			_, err := c.Download(context.Background(), misRepo, "main", misFile)
			wantKind(t, err, ErrTimeout, "below the minimum rate of 1000 bytes/s", "HF_HUB_DOWNLOAD_MIN_RATE")
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("gave up after %s", d)
			}
			cacheUntrusted(t, c, s, lfs)
		})
	}
	t.Run("fast enough", func(t *testing.T) {
		// 4 KiB every 5ms (800 KB/s) passes a 20 KB/s minimum.
		s := newMisServer(t, true)
		s.get = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
			for i := 0; i < len(misData); i += 4096 {
				w.Write(misData[i : i+4096])
				w.(http.Flusher).Flush()
				time.Sleep(5 * time.Millisecond)
			}
		}
		c := s.client(t)
		c.ReadTimeout = 200 * time.Millisecond
		c.MinRate = 20_000
		_, err := c.Download(context.Background(), misRepo, "main", misFile)
		mustOK(t, err)
	})
}

func TestDiskFull(t *testing.T) {
	// /dev/full is a real device whose writes fail with ENOSPC: the
	// download's partial file is made a link to it, as a full disk would
	// make every write fail.
	if fi, err := os.Stat("/dev/full"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Skip("no /dev/full on this system")
	}
	for _, lfs := range []bool{false, true} {
		t.Run(fmt.Sprintf("lfs=%v", lfs), func(t *testing.T) {
			s := newMisServer(t, lfs)
			c := s.client(t)
			inc := filepath.Join(c.CacheDir, "models--org--model", "blobs", s.etag()+".incomplete")
			mustOK(t, os.MkdirAll(filepath.Dir(inc), 0o755))
			mustOK(t, os.Symlink("/dev/full", inc))
			_, err := c.Download(context.Background(), misRepo, "main", misFile)
			wantKind(t, err, ErrCache, "no space left on device", inc, "HF_HUB_CACHE")
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("error does not wrap ENOSPC: %v", err)
			}
			if strings.Contains(err.Error(), "interrupted") {
				t.Errorf("a full disk reported as an interrupted transfer: %v", err)
			}
			if _, err := os.Lstat(inc); err == nil {
				t.Errorf("%s left behind", inc)
			}
			cacheUntrusted(t, c, s, false)
		})
	}
}

func TestInvalidHTTPAnswers(t *testing.T) {
	// Answers Go's HTTP client refuses: reported as invalid HTTP from a
	// server that was reached, not as a network failure.
	head := "HTTP/1.1 200 OK\r\nX-Repo-Commit: " + misCommit + "\r\nETag: \"abc\"\r\n"
	for name, raw := range map[string]string{
		"Content-Length not a number": head + "Content-Length: abc\r\n\r\n",
		"two Content-Lengths":         head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"negative Content-Length":     head + "Content-Length: -5\r\n\r\n",
		"unknown Transfer-Encoding":   head + "Transfer-Encoding: foo\r\n\r\n",
		"not HTTP":                    "garbage\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			s := newMisServer(t, false)
			s.head = func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				buf.WriteString(raw)
				buf.Flush()
			}
			c := s.client(t)
			_, err := c.Download(context.Background(), misRepo, "main", misFile)
			wantKind(t, err, ErrProtocol, "not valid HTTP")
			if s.heads.Load() != 1 {
				t.Errorf("%d HEAD requests, want 1", s.heads.Load())
			}
			cacheUntrusted(t, c, s, false)
		})
	}
}

func TestSizeBeyondFreeSpaceRefused(t *testing.T) {
	// 2^60 bytes (1 EiB) fits on no disk this test runs on: refused before
	// any byte is asked for or written.
	s := newMisServer(t, true)
	s.head = func(w http.ResponseWriter, r *http.Request) {
		s.metaHeaders(w)
		w.Header().Set(headerLinkedSize, strconv.FormatInt(1<<60, 10))
		w.WriteHeader(http.StatusFound)
	}
	c := s.client(t)
	if _, ok := freeSpace(c.CacheDir); !ok {
		t.Skip("the file system does not report its free space")
	}
	_, err := c.Download(context.Background(), misRepo, "main", misFile)
	wantKind(t, err, ErrCache, "not enough space", "1152921504606846976 bytes", "HF_HUB_CACHE")
	if n := s.gets.Load(); n != 0 {
		t.Errorf("%d GET requests for a file the disk cannot hold", n)
	}
	cacheUntrusted(t, c, s, false)
}

// noControl fails if s holds a control byte or is longer than limit.
func noControl(t *testing.T, s string, limit int) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			t.Errorf("message holds control byte %#x at %d: %q", c, i, s)
			return
		}
	}
	if len(s) > limit {
		t.Errorf("message is %d bytes, want at most %d: %.300q", len(s), limit, s)
	}
}

func TestServerValuesQuotedInErrors(t *testing.T) {
	ctx := context.Background()
	// Go's HTTP client refuses ASCII control bytes in header values (as a
	// malformed answer, whose error must be capped too), so the headers
	// carry what passes: a right-to-left override and a C1 control; the
	// body and the reason phrase carry an escape sequence as well.
	const attack = "\x1b[2K\r\u202eOK: all files verified"
	const hattack = "\u202e\u0085OK: all files verified"
	long := strings.Repeat("A", 100_000)
	jsonAttack, _ := json.Marshal(map[string]string{"error": attack + long[:3000]})
	for _, tc := range []struct {
		name string
		head func(s *misServer, w http.ResponseWriter, r *http.Request)
		get  func(s *misServer, w http.ResponseWriter, r *http.Request)
		want string
	}{
		{"X-Error-Message", func(s *misServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set(headerErrorMsg, hattack+long)
			w.WriteHeader(http.StatusBadRequest)
		}, nil, `server said: "\u202e\u0085OK`},
		{"JSON error body", nil, func(s *misServer, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTeapot)
			w.Write(jsonAttack)
		}, `server said: "\x1b[2K\r\u202eOK`},
		{"header with an escape sequence (malformed answer)", func(s *misServer, w http.ResponseWriter, r *http.Request) {
			s.metaHeaders(w)
			w.Header().Set("ETag", `"`+attack+long+`"`)
		}, nil, `malformed`},
		{"reason phrase", func(s *misServer, w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprintf(buf, "HTTP/1.1 418 \x1b[2K%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", long)
			buf.Flush()
		}, nil, `418 "\x1b[2K`},
		{"X-Repo-Commit", func(s *misServer, w http.ResponseWriter, r *http.Request) {
			s.metaHeaders(w)
			w.Header().Set(headerRepoCommit, hattack+long)
		}, nil, `"\u202e\u0085OK`},
		{"ETag", func(s *misServer, w http.ResponseWriter, r *http.Request) {
			s.metaHeaders(w)
			w.Header().Set("ETag", `"`+hattack+long+`"`)
		}, nil, `"\u202e\u0085OK`},
		{"Content-Range", nil, func(s *misServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", hattack+long)
			w.WriteHeader(http.StatusPartialContent)
		}, `"\u202e\u0085OK`},
		{"Content-Encoding", nil, func(s *misServer, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", hattack+long)
			okGet(w, r)
		}, `"\u202e\u0085OK`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMisServer(t, false)
			if tc.head != nil {
				s.head = func(w http.ResponseWriter, r *http.Request) { tc.head(s, w, r) }
			}
			if tc.get != nil {
				s.get = func(w http.ResponseWriter, r *http.Request) { tc.get(s, w, r) }
			}
			c := s.client(t)
			c.MaxRetries = -1
			_, err := c.Download(ctx, misRepo, "main", misFile)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			noControl(t, msg, 1000)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not show the value quoted (%s)", msg, tc.want)
			}
			if strings.ContainsAny(msg, "\u202e\u0085") {
				t.Errorf("error %q holds a raw right-to-left override or C1 control", msg)
			}
		})
	}
}

func TestUnauthorizedSaysWhetherATokenWasSent(t *testing.T) {
	ctx := context.Background()
	unauthorized := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(headerErrorCode, "RepoNotFound")
		w.WriteHeader(http.StatusUnauthorized)
	}
	t.Run("Hub host, no token", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = unauthorized
		c := s.client(t)
		_, err := c.Download(ctx, misRepo, "main", misFile)
		wantKind(t, err, ErrRepoNotFound, "no token was sent", "HF_TOKEN", "token file")
		if strings.Contains(err.Error(), "token that was sent") {
			t.Errorf("error %q speaks of a token sent", err)
		}
	})
	t.Run("Hub host, token sent", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = unauthorized
		c := s.client(t)
		c.Token = "hf_test_token"
		_, err := c.Download(ctx, misRepo, "main", misFile)
		wantKind(t, err, ErrRepoNotFound, "the token that was sent")
	})
	t.Run("download host, token configured but never sent there", func(t *testing.T) {
		// The CDN is another host: 127.0.0.1 vs localhost.
		s := newMisServer(t, true)
		cdn := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
		var auth atomic.Value
		s.head = func(w http.ResponseWriter, r *http.Request) {
			s.metaHeaders(w)
			w.Header().Set("Location", cdn+"/cdn/"+s.etag())
			w.WriteHeader(http.StatusFound)
		}
		s.get = func(w http.ResponseWriter, r *http.Request) {
			auth.Store(r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusUnauthorized)
		}
		c := s.client(t)
		c.Token = "hf_test_token"
		_, err := c.Download(ctx, misRepo, "main", misFile)
		wantKind(t, err, ErrForbidden, "no token was sent to it", "HF_TOKEN")
		if strings.Contains(err.Error(), "token that was sent") {
			t.Errorf("error %q speaks of a token sent", err)
		}
		if a, _ := auth.Load().(string); a != "" {
			t.Errorf("the download host received Authorization %q", a)
		}
	})
}

func TestNewFromEnvTransferLimits(t *testing.T) {
	for _, k := range []string{"HF_ENDPOINT", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_DOWNLOAD_MIN_RATE", "5000")
	t.Setenv("HF_HUB_LOCK_TIMEOUT", "2.5")
	c, err := NewFromEnv()
	mustOK(t, err)
	if c.MinRate != 5000 || c.LockTimeout != 2500*time.Millisecond {
		t.Errorf("MinRate %d, LockTimeout %s", c.MinRate, c.LockTimeout)
	}
	t.Setenv("HF_HUB_DOWNLOAD_MIN_RATE", "0")
	c, err = NewFromEnv()
	mustOK(t, err)
	if c.MinRate >= 0 {
		t.Errorf("HF_HUB_DOWNLOAD_MIN_RATE=0 gives MinRate %d, want none (negative)", c.MinRate)
	}
	for k, v := range map[string]string{"HF_HUB_DOWNLOAD_MIN_RATE": "fast", "HF_HUB_LOCK_TIMEOUT": "-1"} {
		t.Setenv("HF_HUB_DOWNLOAD_MIN_RATE", "")
		t.Setenv("HF_HUB_LOCK_TIMEOUT", "")
		t.Setenv(k, v)
		if _, err := NewFromEnv(); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
