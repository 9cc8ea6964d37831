package weights

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnpickle feeds arbitrary bytes to the pickle reader: it must return
// a value or an error, never panic or hang.
func FuzzUnpickle(f *testing.F) {
	for _, file := range []string{"ckpt_views.pt", "ckpt_evil_posix.pt"} {
		zr, err := zip.OpenReader(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if filepath.Base(zf.Name) == "data.pkl" {
				rc, err := zf.Open()
				if err != nil {
					f.Fatal(err)
				}
				var buf bytes.Buffer
				buf.ReadFrom(rc)
				rc.Close()
				f.Add(buf.Bytes())
			}
		}
		zr.Close()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := newUnpickler(data, 1<<20).load()
		if err != nil {
			return
		}
		c := converter{tensor: func(*tensorRef) (any, error) { return nil, nil }}
		c.plain(v, 0)
	})
}

// FuzzLoadCheckpoint mutates whole checkpoint files.
func FuzzLoadCheckpoint(f *testing.F) {
	for _, file := range []string{"ckpt_views.pt", "ckpt_noncontig.pt"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, _, err := loadCheckpoint("fuzz.pt", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, tn := range ck.StateDict {
			if _, err := tn.Float32(); err != nil {
				t.Errorf("loaded tensor does not decode: %v", err)
			}
		}
	})
}

// FuzzSafetensors mutates a safetensors file.
func FuzzSafetensors(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "tensors.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := loadSafetensors("fuzz.safetensors", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, tn := range m {
			if _, err := tn.Float32(); err != nil {
				t.Errorf("loaded tensor does not decode: %v", err)
			}
		}
	})
}
