package hub

import (
	"fmt"
	"io"
	"time"
)

// progress draws a single self-overwriting line per transfer.
type progress struct {
	w      io.Writer
	name   string
	n      int64
	total  int64
	last   time.Time
	start  time.Time
	active bool
}

func newProgress(w io.Writer, name string, already, total int64) *progress {
	return &progress{w: w, name: name, n: already, total: total, start: time.Now()}
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (pr progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.add(int64(n))
	return n, err
}

func (p *progress) reader(r io.Reader) io.Reader {
	if p.w == nil {
		return r
	}
	return progressReader{r: r, p: p}
}

func (p *progress) add(n int64) {
	p.n += n
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	p.active = true
	const mib = 1 << 20
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r%s: %.1f / %.1f MiB (%3.0f%%)", p.name, float64(p.n)/mib, float64(p.total)/mib, 100*float64(p.n)/float64(p.total))
	} else {
		fmt.Fprintf(p.w, "\r%s: %.1f MiB", p.name, float64(p.n)/mib)
	}
}

// done draws the final state and ends the line.
func (p *progress) done() {
	if p.w == nil {
		return
	}
	p.draw()
	fmt.Fprintf(p.w, " in %.1fs\n", time.Since(p.start).Seconds())
}
