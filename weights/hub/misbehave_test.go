package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labcoreai/tokbench/weights/hub/hubtest"
)

// Misbehaving servers, written directly with httptest: each test says what
// the server does wrong and checks the error and that nothing the cache
// would trust (blobs/<etag>, a snapshot link, a ref) was left behind.

const (
	misRepo   = "org/model"
	misFile   = "model.safetensors"
	misSmall  = "config.json"
	misCommit = "0123456789abcdef0123456789abcdef01234567"
)

var misData = bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB

// misServer is a Hub whose behaviour each test writes: lfs picks a
// sha256 etag served through a CDN redirect (else a git-sha1 etag served
// by the resolve URL itself).
type misServer struct {
	*httptest.Server
	lfs      bool
	head     func(w http.ResponseWriter, r *http.Request) // nil: a correct answer
	get      func(w http.ResponseWriter, r *http.Request) // nil: a correct answer
	revision func(w http.ResponseWriter, r *http.Request) // nil: a correct answer
	heads    atomic.Int32
	gets     atomic.Int32
	revs     atomic.Int32
	release  chan struct{} // closed at cleanup: stalled handlers return
}

func newMisServer(t *testing.T, lfs bool) *misServer {
	s := &misServer{lfs: lfs, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.release)
		s.CloseClientConnections()
		s.Close()
	})
	return s
}

func (s *misServer) etag() string {
	if s.lfs {
		return hubtest.SHA256(misData)
	}
	return hubtest.GitBlobSHA1(misData)
}

// metaHeaders writes the resolve answer's headers for misData.
func (s *misServer) metaHeaders(w http.ResponseWriter) {
	w.Header().Set(headerRepoCommit, misCommit)
	if s.lfs {
		w.Header().Set(headerLinkedEtag, `"`+s.etag()+`"`)
		w.Header().Set(headerLinkedSize, strconv.Itoa(len(misData)))
		w.Header().Set("Location", s.URL+"/cdn/"+s.etag())
		return
	}
	w.Header().Set("ETag", `"`+s.etag()+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
}

func (s *misServer) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/models/"):
		s.revs.Add(1)
		if s.revision != nil {
			s.revision(w, r)
			return
		}
		fmt.Fprintf(w, `{"sha": %q}`, misCommit)
	case r.Method == http.MethodHead:
		s.heads.Add(1)
		if s.head != nil {
			s.head(w, r)
			return
		}
		s.metaHeaders(w)
		if s.lfs {
			w.WriteHeader(http.StatusFound)
		}
	case r.Method == http.MethodGet:
		s.gets.Add(1)
		if s.get != nil {
			s.get(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
		w.Write(misData)
	default:
		http.Error(w, "no", http.StatusMethodNotAllowed)
	}
}

// stall blocks until the client gives up or the test ends.
func (s *misServer) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.release:
	}
}

func (s *misServer) client(t *testing.T) *Client {
	return &Client{
		Endpoint:        s.URL,
		CacheDir:        t.TempDir(),
		Warn:            io.Discard,
		MetadataTimeout: 2 * time.Second,
		ReadTimeout:     2 * time.Second,
		RetryWait:       5 * time.Millisecond,
	}
}

// wantKind checks err's kind and that its message holds each of wants.
func wantKind(t *testing.T, err, kind error, wants ...string) {
	t.Helper()
	var he *Error
	if !errors.As(err, &he) || !errors.Is(err, kind) {
		t.Fatalf("want an *Error of kind %v, got %v", kind, err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// cacheUntrusted checks that the cache holds nothing it would serve: no
// blob, no snapshot entry, no ref. A blobs/<etag>.incomplete may stay for
// an LFS file: it is only ever resumed and then verified in full.
func cacheUntrusted(t *testing.T, c *Client, s *misServer, allowIncomplete bool) {
	t.Helper()
	root := filepath.Join(c.CacheDir, "models--org--model")
	ents, _ := os.ReadDir(filepath.Join(root, "blobs"))
	for _, e := range ents {
		if allowIncomplete && e.Name() == s.etag()+".incomplete" {
			continue
		}
		t.Errorf("blobs/%s left in the cache", e.Name())
	}
	for _, d := range []string{"snapshots", "refs"} {
		filepath.Walk(filepath.Join(root, d), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				t.Errorf("%s left in the cache", p)
			}
			return nil
		})
	}
	if p, _ := newRepoCache(c.CacheDir, misRepo).lookup("main", misFile); p != "" {
		t.Errorf("the cache serves %s", p)
	}
}

// The baseline: the misServer's correct answers download fine, so each
// failure below comes from what the test changed.
func TestMisServerBaseline(t *testing.T) {
	for _, lfs := range []bool{false, true} {
		s := newMisServer(t, lfs)
		c := s.client(t)
		p, err := c.Download(context.Background(), misRepo, "main", misFile)
		if err != nil {
			t.Fatalf("lfs=%v: %v", lfs, err)
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, misData) {
			t.Fatalf("lfs=%v: content differs", lfs)
		}
	}
}

func TestBodyShorterThanAnnounced(t *testing.T) {
	half := len(misData) / 2
	for _, lfs := range []bool{false, true} {
		t.Run(fmt.Sprintf("lfs=%v/cut", lfs), func(t *testing.T) {
			// Content-Length says all of it; the connection ends half way.
			s := newMisServer(t, lfs)
			s.get = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
				w.Write(misData[:half])
			}
			c := s.client(t)
			_, err := c.Download(context.Background(), misRepo, "main", misFile)
			wantKind(t, err, ErrInterrupted, "interrupted", strconv.Itoa(half))
			cacheUntrusted(t, c, s, lfs)
		})
		t.Run(fmt.Sprintf("lfs=%v/short", lfs), func(t *testing.T) {
			// The GET announces (and sends) less than the metadata said.
			s := newMisServer(t, lfs)
			s.get = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(half))
				w.Write(misData[:half])
			}
			c := s.client(t)
			_, err := c.Download(context.Background(), misRepo, "main", misFile)
			wantKind(t, err, ErrIntegrity, strconv.Itoa(half), strconv.Itoa(len(misData)), "nothing was kept")
			cacheUntrusted(t, c, s, false)
		})
		t.Run(fmt.Sprintf("lfs=%v/chunked", lfs), func(t *testing.T) {
			// No Content-Length on the GET, half the data, a clean end.
			s := newMisServer(t, lfs)
			s.get = func(w http.ResponseWriter, r *http.Request) {
				w.Write(misData[:half])
				w.(http.Flusher).Flush()
			}
			c := s.client(t)
			_, err := c.Download(context.Background(), misRepo, "main", misFile)
			wantKind(t, err, ErrIntegrity, fmt.Sprintf("received %d bytes, expected %d", half, len(misData)))
			cacheUntrusted(t, c, s, false)
		})
	}
}

func TestBodyLongerThanAnnounced(t *testing.T) {
	for _, lfs := range []bool{false, true} {
		t.Run(fmt.Sprintf("lfs=%v/endless", lfs), func(t *testing.T) {
			// No Content-Length and a body that never ends: the client
			// stops reading after the announced size.
			s := newMisServer(t, lfs)
			var sent atomic.Int64
			s.get = func(w http.ResponseWriter, r *http.Request) {
				for sent.Load() < 1<<30 {
					n, err := w.Write(misData)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}
			c := s.client(t)
			start := time.Now()
			_, err := c.Download(context.Background(), misRepo, "main", misFile)
			wantKind(t, err, ErrIntegrity, fmt.Sprintf("more than the %d bytes announced", len(misData)), "nothing was kept")
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
			if n := sent.Load(); n >= 1<<30 {
				t.Errorf("the client read the whole endless body (%d bytes)", n)
			}
			cacheUntrusted(t, c, s, false)
		})
		t.Run(fmt.Sprintf("lfs=%v/announced", lfs), func(t *testing.T) {
			// The GET announces more than the metadata said.
			s := newMisServer(t, lfs)
			s.get = func(w http.ResponseWriter, r *http.Request) {
				long := append(append([]byte(nil), misData...), "extra"...)
				w.Header().Set("Content-Length", strconv.Itoa(len(long)))
				w.Write(long)
			}
			c := s.client(t)
			_, err := c.Download(context.Background(), misRepo, "main", misFile)
			wantKind(t, err, ErrIntegrity, strconv.Itoa(len(misData)+5), "nothing was kept")
			cacheUntrusted(t, c, s, false)
		})
	}
}

func TestWrongSHA256(t *testing.T) {
	s := newMisServer(t, true)
	s.get = func(w http.ResponseWriter, r *http.Request) {
		bad := bytes.Clone(misData)
		bad[len(bad)-1] ^= 1
		w.Header().Set("Content-Length", strconv.Itoa(len(bad)))
		w.Write(bad)
	}
	c := s.client(t)
	_, err := c.Download(context.Background(), misRepo, "main", misFile)
	wantKind(t, err, ErrIntegrity, "sha256", s.etag(), "nothing was kept")
	cacheUntrusted(t, c, s, false)
}

func TestRedirectLoops(t *testing.T) {
	t.Run("relative, on the resolve URL", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", r.URL.Path)
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
		c := s.client(t)
		_, err := c.Download(context.Background(), misRepo, "main", misFile)
		wantKind(t, err, ErrProtocol, "more than 10 redirects")
		if n := s.heads.Load(); n != 11 {
			t.Errorf("%d HEAD requests, want 11", n)
		}
		cacheUntrusted(t, c, s, false)
	})
	t.Run("absolute, between CDN URLs", func(t *testing.T) {
		s := newMisServer(t, true)
		s.get = func(w http.ResponseWriter, r *http.Request) {
			next := s.URL + "/cdn/a"
			if strings.HasSuffix(r.URL.Path, "/a") {
				next = s.URL + "/cdn/b"
			}
			http.Redirect(w, r, next, http.StatusFound)
		}
		c := s.client(t)
		_, err := c.Download(context.Background(), misRepo, "main", misFile)
		wantKind(t, err, ErrProtocol, "more than 10 redirects")
		if n := s.gets.Load(); n != 11 {
			t.Errorf("%d GET requests, want 11", n)
		}
		cacheUntrusted(t, c, s, false)
	})
}

func TestStallingServer(t *testing.T) {
	const short = 200 * time.Millisecond
	check := func(t *testing.T, s *misServer, c *Client, download func() error, wants ...string) {
		start := time.Now()
		err := download()
		wantKind(t, err, ErrTimeout, wants...)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("gave up after %s", d)
		}
		cacheUntrusted(t, c, s, s.lfs)
	}
	t.Run("HEAD never answers", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = func(w http.ResponseWriter, r *http.Request) { s.stall(r) }
		c := s.client(t)
		c.MetadataTimeout = short
		check(t, s, c, func() error { _, err := c.Download(context.Background(), misRepo, "main", misFile); return err },
			"metadata timeout", "200ms")
	})
	t.Run("revision API never answers", func(t *testing.T) {
		s := newMisServer(t, false)
		s.revision = func(w http.ResponseWriter, r *http.Request) { s.stall(r) }
		c := s.client(t)
		c.MetadataTimeout = short
		check(t, s, c, func() error {
			_, err := c.DownloadRepoFiles(context.Background(), misRepo, "main", misFile, misSmall)
			return err
		}, "revision request", "metadata timeout")
	})
	for _, lfs := range []bool{false, true} {
		t.Run(fmt.Sprintf("lfs=%v/GET sends no headers", lfs), func(t *testing.T) {
			s := newMisServer(t, lfs)
			s.get = func(w http.ResponseWriter, r *http.Request) { s.stall(r) }
			c := s.client(t)
			c.ReadTimeout = short
			check(t, s, c, func() error { _, err := c.Download(context.Background(), misRepo, "main", misFile); return err },
				"no data received for 200ms", "idle read timeout")
		})
		t.Run(fmt.Sprintf("lfs=%v/GET stops mid-body", lfs), func(t *testing.T) {
			s := newMisServer(t, lfs)
			s.get = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
				w.Write(misData[:1000])
				w.(http.Flusher).Flush()
				s.stall(r)
			}
			c := s.client(t)
			c.ReadTimeout = short
			check(t, s, c, func() error { _, err := c.Download(context.Background(), misRepo, "main", misFile); return err },
				"no data received for 200ms", "idle read timeout")
		})
	}
}

// failFirst answers status to the first n requests, then calls next
// (nil: the misServer's correct answer, through fallback).
func failFirst(n int32, status int, counter *atomic.Int32, fallback func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if counter.Load() <= n {
			http.Error(w, `{"error": "try later"}`, status)
			return
		}
		fallback(w, r)
	}
}

func TestServerErrorsRetried(t *testing.T) {
	ctx := context.Background()
	okHead := func(s *misServer) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			s.metaHeaders(w)
			if s.lfs {
				w.WriteHeader(http.StatusFound)
			}
		}
	}
	okGet := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
		w.Write(misData)
	}
	t.Run("HEAD 503 twice, then fine", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = failFirst(2, http.StatusServiceUnavailable, &s.heads, okHead(s))
		c := s.client(t)
		var log syncBuffer
		c.Log = &log
		if _, err := c.Download(ctx, misRepo, "main", misFile); err != nil {
			t.Fatal(err)
		}
		if n := s.heads.Load(); n != 3 {
			t.Errorf("%d HEAD requests, want 3", n)
		}
		if !strings.Contains(log.String(), "retry 2 of 3") {
			t.Errorf("log does not show the retries:\n%s", log.String())
		}
	})
	t.Run("content GET 502 then 504, then fine", func(t *testing.T) {
		s := newMisServer(t, true)
		var n atomic.Int32
		s.get = func(w http.ResponseWriter, r *http.Request) {
			switch n.Add(1) {
			case 1:
				http.Error(w, "bad gateway", http.StatusBadGateway)
			case 2:
				http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
			default:
				okGet(w, r)
			}
		}
		c := s.client(t)
		p, err := c.Download(ctx, misRepo, "main", misFile)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, misData) {
			t.Error("content differs")
		}
	})
	t.Run("revision API 500 once, then fine", func(t *testing.T) {
		s := newMisServer(t, false)
		s.revision = failFirst(1, http.StatusInternalServerError, &s.revs, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"sha": %q}`, misCommit)
		})
		c := s.client(t)
		if _, err := c.DownloadRepoFiles(ctx, misRepo, "main", misFile); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct {
		name   string
		status int
		set    func(s *misServer, h func(http.ResponseWriter, *http.Request))
		count  func(s *misServer) int32
		call   func(c *Client) error
		want   string
	}{
		{"HEAD always 500", 500, func(s *misServer, h func(http.ResponseWriter, *http.Request)) { s.head = h },
			func(s *misServer) int32 { return s.heads.Load() },
			func(c *Client) error { _, err := c.Download(ctx, misRepo, "main", misFile); return err }, "HTTP status 500"},
		{"GET always 503", 503, func(s *misServer, h func(http.ResponseWriter, *http.Request)) { s.get = h },
			func(s *misServer) int32 { return s.gets.Load() },
			func(c *Client) error { _, err := c.Download(ctx, misRepo, "main", misFile); return err }, "HTTP status 503"},
		{"revision API always 502", 502, func(s *misServer, h func(http.ResponseWriter, *http.Request)) { s.revision = h },
			func(s *misServer) int32 { return s.revs.Load() },
			func(c *Client) error { _, err := c.DownloadRepoFiles(ctx, misRepo, "main", misFile); return err }, "HTTP status 502"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMisServer(t, true)
			tc.set(s, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", tc.status) })
			c := s.client(t)
			start := time.Now()
			err := tc.call(c)
			wantKind(t, err, ErrHTTP, tc.want, "gave up after 4 attempts")
			if n := tc.count(s); n != 1+DefaultMaxRetries {
				t.Errorf("%d requests, want %d", n, 1+DefaultMaxRetries)
			}
			// Backoff: 5ms, 10ms, 20ms.
			if d := time.Since(start); d < 35*time.Millisecond {
				t.Errorf("retries without backoff: %s", d)
			}
			cacheUntrusted(t, c, s, false)

			// MaxRetries < 0: a single try.
			s2 := newMisServer(t, true)
			tc.set(s2, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", tc.status) })
			c2 := s2.client(t)
			c2.MaxRetries = -1
			err = tc.call(c2)
			wantKind(t, err, ErrHTTP, tc.want)
			if strings.Contains(err.Error(), "gave up") {
				t.Errorf("error %q talks of attempts", err)
			}
			if n := tc.count(s2); n != 1 {
				t.Errorf("MaxRetries -1: %d requests", n)
			}
		})
	}
	t.Run("not retried: 501, 404, canceled", func(t *testing.T) {
		s := newMisServer(t, false)
		s.head = func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusNotImplemented) }
		c := s.client(t)
		_, err := c.Download(ctx, misRepo, "main", misFile)
		wantKind(t, err, ErrHTTP, "501")
		if n := s.heads.Load(); n != 1 {
			t.Errorf("501 sent %d times", n)
		}
		// A long backoff is cut short by cancellation.
		s2 := newMisServer(t, false)
		s2.head = func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }
		c2 := s2.client(t)
		c2.RetryWait = time.Hour
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c2.Download(cctx, misRepo, "main", misFile)
		if err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("canceled during backoff: %v after %s", err, time.Since(start))
		}
		var he *Error
		if !errors.As(err, &he) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("canceled during backoff: %v", err)
		}
	})
}

// Concurrent misbehaviour: several clients downloading from a server that
// cuts every body leave no trusted file either.
func TestConcurrentCutsLeaveNothingTrusted(t *testing.T) {
	s := newMisServer(t, false)
	s.get = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(misData)))
		w.Write(misData[:100])
	}
	c := s.client(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Download(context.Background(), misRepo, "main", misFile); err == nil {
				t.Error("a cut body was accepted")
			}
		}()
	}
	wg.Wait()
	cacheUntrusted(t, c, s, false)
}
