package weights

import (
	"archive/zip"
	"bytes"
	"io"
	"path/filepath"
	"testing"
)

// FuzzCheckpointPickle builds a well-formed zip (right CRCs and sizes) from
// a fuzzed data.pkl and storage "0", so that mutations reach the tensor
// checks instead of failing the zip's CRC as FuzzLoadCheckpoint's mostly
// do. Seeds: the pickles and first storages of the fixture checkpoints.
func FuzzCheckpointPickle(f *testing.F) {
	for _, name := range []string{"ckpt_views.pt", "ckpt_fp32.pt", "ckpt_bf16.pt", "ckpt_noncontig.pt", "ckpt_archive.pt"} {
		zr, err := zip.OpenReader(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		var pkl, st []byte
		for _, zf := range zr.File {
			base, dir := filepath.Base(zf.Name), filepath.Base(filepath.Dir(zf.Name))
			if base == "data.pkl" || (dir == "data" && base == "0") {
				rc, err := zf.Open()
				if err != nil {
					f.Fatal(err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				if base == "data.pkl" {
					pkl = b
				} else {
					st = b
				}
			}
		}
		zr.Close()
		f.Add(pkl, st)
	}
	f.Add(hugeSizePickle(4, 1<<40, 1<<40), make([]byte, 16))
	f.Add(tensorPickle(3, 1, 2, 1), make([]byte, 12))
	f.Fuzz(func(t *testing.T, pkl, storage []byte) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, e := range []struct {
			name string
			data []byte
		}{{"a/data.pkl", pkl}, {"a/data/0", storage}, {"a/version", []byte("3\n")}} {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(e.data)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		ck, _, err := loadCheckpoint("fuzz.pt", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for name, tn := range ck.StateDict {
			v, err := tn.Float32()
			if err != nil {
				t.Fatalf("tensor %q does not decode: %v", name, err)
			}
			if len(v) > len(storage) {
				t.Fatalf("tensor %q has %d elements from a %d-byte storage", name, len(v), len(storage))
			}
		}
	})
}
