package weights

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// maxPickleBytes bounds the size of a checkpoint's data.pkl. Each pickle
// opcode byte can build a Go value of up to about a hundred bytes (a list, a
// dict), so this also bounds the memory the pickle itself can take. Real
// checkpoints hold a few KB to a few MB of pickle (tensor data lives in
// separate entries).
const maxPickleBytes = 64 << 20

// maxInflateRatio bounds what compressed zip entries may expand to, all
// together, as a multiple of the archive's size. torch.save stores entries
// uncompressed; a compressed one can only come from a repacked (or hostile)
// file, and must not turn a small file into a large allocation.
const maxInflateRatio = 4

// maxViewRatio bounds the bytes of all the state dict's tensors together, as
// a multiple of the file's size. A tensor views its storage without a copy,
// but the engine widens each tensor to float32 on its own: many tensors
// over one storage would cost many times the file. Tied weights (wte and
// lm_head over one storage) count twice, which stays within 2 x the file.
const maxViewRatio = 2

// Checkpoint is what the engine uses of a torch.save'd training checkpoint.
type Checkpoint struct {
	Path        string
	ModelConfig map[string]any     // "model_config"; nil when absent
	StateDict   map[string]*Tensor // "model_state_dict"
	Tokenizer   map[string]any     // "tokenizer"; nil when absent
}

// LoadCheckpoint reads a PyTorch checkpoint in the zip format of
// torch.save (PyTorch 1.6 and later). The pickle is decoded with an
// allow-list of data-only globals; tensor data is read only for the tensors
// of "model_state_dict", so an optimizer state is never loaded. Tensors must
// be float32, float16 or bfloat16 and contiguous; tensors sharing a storage
// (tied weights) share their Data, and together may hold at most twice the
// file's size. Zip entries may neither share data nor repeat a name.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("weights: %s: not a regular file", path)
	}
	c, _, err := loadCheckpoint(path, f, st.Size())
	return c, err
}

// ckptArchive is an opened checkpoint zip.
type ckptArchive struct {
	path   string
	size   int64
	zr     *zip.Reader
	prefix string // top folder, with a trailing slash
	files  map[string]*zip.File
	// inflated counts the declared sizes of the compressed entries read.
	inflated uint64
	// viewBytes counts the bytes of the state dict's tensors.
	viewBytes int64
}

// loadStats records what a load read, for tests.
type loadStats struct {
	storagesRead []string
}

func loadCheckpoint(name string, r io.ReaderAt, size int64) (*Checkpoint, *loadStats, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("weights: %s: "+format, append([]any{name}, args...)...)
	}
	a, err := openArchive(name, r, size)
	if err != nil {
		return nil, nil, err
	}
	root, err := a.unpickle()
	if err != nil {
		return nil, nil, err
	}
	top, ok := root.(*pyDict)
	if !ok {
		return nil, nil, errf("data.pkl: top-level value is a %s, want a dict", typeName(root))
	}
	ck := &Checkpoint{Path: name}
	stats := &loadStats{}
	var plainConv converter
	for _, key := range []string{"model_config", "tokenizer"} {
		v, ok := top.get(key)
		if !ok || v == nil {
			continue
		}
		pv, err := plainConv.plain(v, 0)
		if err != nil {
			return nil, nil, errf("%s: %v", key, err)
		}
		m, ok := pv.(map[string]any)
		if !ok {
			return nil, nil, errf("%s is a %s, want a dict", key, typeName(v))
		}
		if key == "model_config" {
			ck.ModelConfig = m
		} else {
			ck.Tokenizer = m
		}
	}
	sdv, ok := top.get("model_state_dict")
	if !ok {
		return nil, nil, errf("no \"model_state_dict\" in the checkpoint (keys: %s)", QuoteList(strKeys(top)))
	}
	sd, ok := sdv.(*pyDict)
	if !ok {
		return nil, nil, errf("model_state_dict is a %s, want a dict", typeName(sdv))
	}
	storages := make(map[string][]byte)
	ck.StateDict = make(map[string]*Tensor, len(sd.keys))
	for i, k := range sd.keys {
		tname, ok := k.(string)
		if !ok {
			return nil, nil, errf("model_state_dict: key %s is a %s, want a string", shortValue(k), typeName(k))
		}
		tr, ok := sd.vals[i].(*tensorRef)
		if !ok {
			return nil, nil, errf("model_state_dict[%s] is a %s, want a tensor", Quote(tname), typeName(sd.vals[i]))
		}
		t, err := a.tensor(tr, storages, stats)
		if err != nil {
			return nil, nil, errf("tensor %s: %v", Quote(tname), err)
		}
		ck.StateDict[tname] = t
	}
	return ck, stats, nil
}

// strKeys returns the string keys of d, sorted, and a short description of
// each other key.
func strKeys(d *pyDict) []string {
	var out []string
	for _, k := range d.keys {
		if s, ok := k.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, "<"+typeName(k)+">")
		}
	}
	sort.Strings(out)
	return out
}

// openArchive opens the zip and finds its data.pkl.
func openArchive(name string, r io.ReaderAt, size int64) (*ckptArchive, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) {
			return nil, fmt.Errorf("weights: %s: not a zip-format PyTorch checkpoint, or truncated/corrupt: %v", name, err)
		}
		return nil, fmt.Errorf("weights: %s: %v", name, err)
	}
	if err := checkEntriesDisjoint(zr); err != nil {
		return nil, fmt.Errorf("weights: %s: %v", name, err)
	}
	a := &ckptArchive{path: name, size: size, zr: zr, files: make(map[string]*zip.File)}
	var pkl []string
	for _, f := range zr.File {
		if _, dup := a.files[f.Name]; dup {
			// torch's readers disagree on which copy they read (1.13
			// reads the last, later versions the first): refuse, so we
			// never load other weights than torch.load would.
			return nil, fmt.Errorf("weights: %s: zip entry %s appears more than once; torch versions disagree on which copy they read, so the file is refused", name, Quote(f.Name))
		}
		a.files[f.Name] = f
		dir, base := path.Split(f.Name)
		if base == "data.pkl" && strings.Count(dir, "/") == 1 {
			pkl = append(pkl, f.Name)
		}
	}
	switch len(pkl) {
	case 0:
		if _, ok := a.files["constants.pkl"]; ok {
			return nil, fmt.Errorf("weights: %s: TorchScript archives are not supported", name)
		}
		return nil, fmt.Errorf("weights: %s: no <folder>/data.pkl in the zip: not a torch.save checkpoint", name)
	case 1:
	default:
		return nil, fmt.Errorf("weights: %s: several data.pkl in the zip (%s)", name, QuoteList(pkl))
	}
	a.prefix = strings.TrimSuffix(pkl[0], "data.pkl")
	if f, ok := a.files[a.prefix+"byteorder"]; ok {
		b, err := a.readEntry(f, 16)
		if err != nil {
			return nil, fmt.Errorf("weights: %s: %v", name, err)
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, fmt.Errorf("weights: %s: byteorder %s is not supported (want little)", name, Quote(s))
		}
	}
	return a, nil
}

// readEntry reads a whole zip entry of at most limit bytes, checking its CRC.
func (a *ckptArchive) readEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", Quote(f.Name), f.UncompressedSize64, limit)
	}
	if f.Method == zip.Store && f.UncompressedSize64 > uint64(a.size) {
		return nil, fmt.Errorf("%s claims %d bytes, more than the file", Quote(f.Name), f.UncompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", Quote(f.Name), err)
	}
	defer rc.Close()
	if f.Method != zip.Store {
		a.inflated += f.UncompressedSize64
		if a.inflated > maxInflateRatio*uint64(a.size) || a.inflated < f.UncompressedSize64 {
			return nil, fmt.Errorf("%s: compressed entries expand to more than %d times the %d-byte file", Quote(f.Name), maxInflateRatio, a.size)
		}
		// A compressed entry may lie about its size: let the buffer grow
		// with the data actually there.
		b, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
		if err != nil {
			return nil, fmt.Errorf("%s: truncated or corrupt: %v", Quote(f.Name), err)
		}
		if uint64(len(b)) != f.UncompressedSize64 {
			return nil, fmt.Errorf("%s: corrupt: %d bytes, declared %d", Quote(f.Name), len(b), f.UncompressedSize64)
		}
		return b, nil
	}
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("%s: truncated or corrupt: %v", Quote(f.Name), err)
	}
	// Reading to EOF makes archive/zip verify the CRC-32.
	var one [1]byte
	if n, err := rc.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = errors.New("more data than its declared size")
		}
		return nil, fmt.Errorf("%s: corrupt: %v", Quote(f.Name), err)
	}
	return b, nil
}

func (a *ckptArchive) unpickle() (any, error) {
	f := a.files[a.prefix+"data.pkl"]
	data, err := a.readEntry(f, maxPickleBytes)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %v", a.path, err)
	}
	u := newUnpickler(data, a.size)
	v, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("weights: %s: data.pkl: %w", a.path, err)
	}
	return v, nil
}

// tensor materialises a tensor, reading its storage once.
func (a *ckptArchive) tensor(tr *tensorRef, storages map[string][]byte, stats *loadStats) (*Tensor, error) {
	st := tr.storage
	if st.typ.dtype == 0 {
		return nil, fmt.Errorf("torch.%s tensors are not supported (want float32, float16 or bfloat16)", st.typ.name)
	}
	shape := make([]int, len(tr.size))
	for i, d := range tr.size {
		if d < 0 || d > a.size {
			return nil, fmt.Errorf("bad size %s", dims(tr.size))
		}
		shape[i] = int(d)
	}
	n, ok := numel(shape)
	if !ok {
		return nil, fmt.Errorf("bad size %s", dims(tr.size))
	}
	if n > 0 {
		// Contiguous row-major strides are required; a dimension of
		// size 1 may have any stride.
		want := int64(1)
		for i := len(shape) - 1; i >= 0; i-- {
			if shape[i] != 1 && tr.stride[i] != want {
				return nil, fmt.Errorf("non-contiguous strides %s for size %s are not supported (save it with .contiguous())", dims(tr.stride), dims(tr.size))
			}
			want *= int64(shape[i])
		}
	}
	if tr.offset > st.numel || int64(n) > st.numel-tr.offset {
		return nil, fmt.Errorf("storage %s of %d elements is too small for offset %d and size %s", Quote(st.key), st.numel, tr.offset, dims(tr.size))
	}
	// n elements fit in the storage, itself no larger than the file: no
	// overflow.
	a.viewBytes += int64(n) * st.typ.elemSize
	if a.viewBytes > maxViewRatio*a.size {
		return nil, fmt.Errorf("the state dict's tensors hold %d bytes by now, more than %d times the %d-byte file: many tensors view the same storage (each would be widened to float32 separately)", a.viewBytes, maxViewRatio, a.size)
	}
	data, ok := storages[st.key]
	if !ok {
		f, ok := a.files[a.prefix+"data/"+st.key]
		if !ok {
			return nil, fmt.Errorf("storage %s: no entry %s in the zip", Quote(st.key), Quote(a.prefix+"data/"+st.key))
		}
		want := st.numel * st.typ.elemSize
		if f.UncompressedSize64 != uint64(want) {
			return nil, fmt.Errorf("storage %s: zip entry %s has %d bytes, want %d (%d × %d-byte elements)", Quote(st.key), Quote(f.Name), f.UncompressedSize64, want, st.numel, st.typ.elemSize)
		}
		var err error
		data, err = a.readEntry(f, a.size)
		if err != nil {
			return nil, err
		}
		storages[st.key] = data
		stats.storagesRead = append(stats.storagesRead, st.key)
	}
	es := st.typ.elemSize
	return &Tensor{
		DType: st.typ.dtype,
		Shape: shape,
		Data:  data[tr.offset*es : (tr.offset+int64(n))*es : (tr.offset+int64(n))*es],
	}, nil
}

// checkEntriesDisjoint refuses a zip whose entries share data: several
// central-directory entries pointing at one local entry (or at overlapping
// bytes) would each be read, and a small file would be read many times
// over. torch.save never writes such a zip.
func checkEntriesDisjoint(zr *zip.Reader) error {
	type span struct {
		begin, end int64
		f          *zip.File
	}
	spans := make([]span, 0, len(zr.File))
	for _, f := range zr.File {
		off, err := f.DataOffset()
		if err != nil {
			return fmt.Errorf("entry %s: %v", Quote(f.Name), err)
		}
		// An empty entry still owns its local header.
		n := max(int64(f.CompressedSize64), 1)
		if f.CompressedSize64 > 1<<62 {
			return fmt.Errorf("entry %s: compressed size %d is out of range", Quote(f.Name), f.CompressedSize64)
		}
		spans = append(spans, span{off, off + n, f})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	for i := 1; i < len(spans); i++ {
		if p, s := spans[i-1], spans[i]; s.begin < p.end {
			return fmt.Errorf("zip entries %s and %s share data (bytes %d..%d and %d..%d of the file): not a torch.save checkpoint", Quote(p.f.Name), Quote(s.f.Name), p.begin, p.end, s.begin, s.end)
		}
	}
	return nil
}
