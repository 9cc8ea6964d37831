package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Limits of the pickle reader. A checkpoint that exceeds them is refused.
const (
	maxPickleDepth = 1000    // MARK nesting, and container nesting when converting
	maxMemo        = 1 << 22 // memo entries
	maxStack       = 1 << 24 // values on the stack
	// maxValues bounds the values one conversion visits, and maxKeyBytes
	// the content of a dict key (a string's bytes, all of a tuple's
	// elements): shared references (memo) can otherwise describe
	// exponentially large data in a few bytes. maxConvKeyBytes bounds the
	// bytes of all the dict keys one conversion hashes.
	maxValues       = 1 << 20
	maxKeyBytes     = 1 << 20
	maxConvKeyBytes = 64 << 20
	// maxIntKeyBits bounds an integer dict key converted to a string:
	// Python's own limit, 4300 digits.
	maxIntKeyBits = 14284
	// maxErrPath bounds the [key] path an error shows: the path of data
	// nested maxPickleDepth deep made errors of megabytes.
	maxErrPath = 16
)

// Python values that only exist while unpickling. They are turned into the
// package's public representation by plain or by the checkpoint loader.
type (
	pyList  struct{ items []any }
	pyTuple []any
	pySet   struct{ items []any }
	pyDict  struct {
		keys  []any
		vals  []any
		index map[dictKey]int
		h     *keyHasher // the hasher of the pickle the dict comes from
	}
	// pyGlobal is an allow-listed Python global (a class or function).
	pyGlobal struct {
		kind    globalKind
		name    string // module.name
		storage storageType
	}
	// storageRef is a storage named by a persistent id; its bytes stay on disk.
	storageRef struct {
		key   string
		typ   storageType
		numel int64
	}
	// tensorRef is a tensor made by torch._utils._rebuild_tensor_v2.
	tensorRef struct {
		storage *storageRef
		offset  int64
		size    []int64
		stride  []int64
	}
)

type globalKind uint8

const (
	gOrderedDict globalKind = iota + 1
	gRebuildTensor
	gRebuildParameter
	gStorage
	gSet
	gFrozenSet
	gCodecsEncode
	gBytes
)

// storageType describes a torch.*Storage class. dtype is zero for element
// types a tensor of the engine cannot have (they may still appear in data
// the engine does not use, such as an optimizer state).
type storageType struct {
	name     string
	elemSize int64
	dtype    DType
}

// allowedGlobals is the allow-list of the pickle reader: data-only
// constructors, as in torch.load(weights_only=True).
var allowedGlobals = map[string]pyGlobal{}

func init() {
	add := func(name string, k globalKind) { allowedGlobals[name] = pyGlobal{kind: k, name: name} }
	add("collections.OrderedDict", gOrderedDict)
	add("torch._utils._rebuild_tensor_v2", gRebuildTensor)
	add("torch._utils._rebuild_parameter", gRebuildParameter)
	for _, m := range []string{"builtins", "__builtin__"} {
		add(m+".set", gSet)
		add(m+".frozenset", gFrozenSet)
		add(m+".bytes", gBytes)
	}
	add("_codecs.encode", gCodecsEncode)
	for _, st := range []storageType{
		{"FloatStorage", 4, Float32},
		{"HalfStorage", 2, Float16},
		{"BFloat16Storage", 2, BFloat16},
		{"DoubleStorage", 8, 0},
		{"LongStorage", 8, 0},
		{"IntStorage", 4, 0},
		{"ShortStorage", 2, 0},
		{"CharStorage", 1, 0},
		{"ByteStorage", 1, 0},
		{"BoolStorage", 1, 0},
	} {
		name := "torch." + st.name
		allowedGlobals[name] = pyGlobal{kind: gStorage, name: name, storage: st}
	}
}

// errPickle is the error type of the pickle reader.
type errPickle struct {
	pos int // offset of the opcode, -1 when not meaningful
	msg string
}

func (e *errPickle) Error() string {
	if e.pos < 0 {
		return e.msg
	}
	return fmt.Sprintf("byte %d: %s", e.pos, e.msg)
}

// unpickler decodes one pickle from an in-memory buffer. It never runs
// code: globals outside allowedGlobals are refused by name.
type unpickler struct {
	data  []byte
	pos   int
	op    int // offset of the current opcode
	stack []any
	marks [][]any
	memo  map[uint32]any
	// maxStorageBytes bounds the size a persistent id may claim.
	maxStorageBytes int64
	storages        map[string]*storageRef
	keys            *keyHasher
}

func newUnpickler(data []byte, maxStorageBytes int64) *unpickler {
	return &unpickler{
		data:            data,
		memo:            make(map[uint32]any),
		maxStorageBytes: maxStorageBytes,
		storages:        make(map[string]*storageRef),
		keys:            newKeyHasher(),
	}
}

func (u *unpickler) errorf(format string, args ...any) error {
	return &errPickle{pos: u.op, msg: fmt.Sprintf(format, args...)}
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.errorf("truncated pickle: want %d bytes, %d left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// readLen reads an unsigned little-endian length of width bytes and checks
// that the pickle holds that many more bytes.
func (u *unpickler) readLen(width int) (int, error) {
	b, err := u.read(width)
	if err != nil {
		return 0, err
	}
	var n uint64
	switch width {
	case 1:
		n = uint64(b[0])
	case 4:
		n = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		n = binary.LittleEndian.Uint64(b)
	}
	if n > uint64(len(u.data)-u.pos) {
		return 0, u.errorf("claimed length %d exceeds the %d bytes left in the pickle", n, len(u.data)-u.pos)
	}
	return int(n), nil
}

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", u.errorf("truncated pickle: unterminated line")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxStack {
		return u.errorf("stack larger than %d values", maxStack)
	}
	if len(u.stack) == cap(u.stack) {
		// Double: append grows large slices by 1.25x, which allocates
		// 5 times the final stack over its growth.
		s := make([]any, len(u.stack), 2*cap(u.stack)+8)
		copy(s, u.stack)
		u.stack = s
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 {
		return nil, u.errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, u.errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the values pushed since the last MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errorf("no MARK on the stack")
	}
	items := u.stack
	u.stack = u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	return items, nil
}

func (u *unpickler) memoize(idx uint64, v any) error {
	if idx > math.MaxUint32 {
		return u.errorf("memo index %d out of range", idx)
	}
	if _, ok := u.memo[uint32(idx)]; !ok && len(u.memo) >= maxMemo {
		return u.errorf("more than %d memo entries", maxMemo)
	}
	u.memo[uint32(idx)] = v
	return nil
}

func (u *unpickler) memoGet(idx uint64) error {
	v, ok := u.memo[uint32(idx)]
	if idx > math.MaxUint32 || !ok {
		return u.errorf("memo entry %d not found", idx)
	}
	return u.push(v)
}

// lookupGlobal resolves module.name against the allow-list.
func (u *unpickler) lookupGlobal(module, name string) (*pyGlobal, error) {
	full := module + "." + name
	g, ok := allowedGlobals[full]
	if !ok {
		return nil, &errPickle{pos: -1, msg: fmt.Sprintf("global %s is not allowed", Quote(full))}
	}
	return &g, nil
}

// load decodes the pickle and returns its value.
func (u *unpickler) load() (any, error) {
	for {
		if u.pos >= len(u.data) {
			return nil, &errPickle{pos: u.pos, msg: "truncated pickle: no STOP opcode"}
		}
		u.op = u.pos
		op := u.data[u.pos]
		u.pos++
		if op == '.' { // STOP
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			return v, nil
		}
		if err := u.step(op); err != nil {
			return nil, err
		}
	}
}

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		b, err := u.read(1)
		if err != nil {
			return err
		}
		if b[0] > 5 {
			return u.errorf("unsupported pickle protocol %d", b[0])
		}
	case 0x95: // FRAME: a hint for buffering, the data follows inline
		_, err := u.read(8)
		return err
	case '(': // MARK
		if len(u.marks) >= maxPickleDepth {
			return u.errorf("nesting deeper than %d", maxPickleDepth)
		}
		u.marks = append(u.marks, u.stack)
		u.stack = nil
	case '0': // POP
		if len(u.stack) == 0 {
			_, err := u.popMark()
			return err
		}
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)
	case 'N':
		return u.push(nil)
	case 0x88:
		return u.push(true)
	case 0x89:
		return u.push(false)
	case 'I': // INT (text)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		switch s {
		case "00":
			return u.push(false)
		case "01":
			return u.push(true)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return u.errorf("bad INT %s", Quote(s))
		}
		return u.push(n)
	case 'L': // LONG (text)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
		if err != nil {
			return u.errorf("bad or too large LONG %s", Quote(s))
		}
		return u.push(n)
	case 'J': // BININT
		b, err := u.read(4)
		if err != nil {
			return err
		}
		return u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case 'K': // BININT1
		b, err := u.read(1)
		if err != nil {
			return err
		}
		return u.push(int64(b[0]))
	case 'M': // BININT2
		b, err := u.read(2)
		if err != nil {
			return err
		}
		return u.push(int64(binary.LittleEndian.Uint16(b)))
	case 0x8a, 0x8b: // LONG1, LONG4
		width := 1
		if op == 0x8b {
			width = 4
		}
		n, err := u.readLen(width)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		v, err := decodeLong(b)
		if err != nil {
			return u.errorf("%v", err)
		}
		return u.push(v)
	case 'F': // FLOAT (text)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return u.errorf("bad FLOAT %s", Quote(s))
		}
		return u.push(f)
	case 'G': // BINFLOAT
		b, err := u.read(8)
		if err != nil {
			return err
		}
		return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
		width := map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8}[op]
		n, err := u.readLen(width)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		// Python decodes with "surrogatepass": UTF-8, plus encoded
		// surrogates, kept as bytes here. Anything else is refused, as
		// Python refuses it.
		if !pyUTF8(b) {
			return u.errorf("string of %d bytes is not valid UTF-8", len(b))
		}
		return u.push(string(b))
	case 'T', 'U': // BINSTRING, SHORT_BINSTRING: Python 2 str, read as Latin-1
		width := 4
		if op == 'U' {
			width = 1
		}
		n, err := u.readLen(width)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		return u.push(latin1(b))
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		width := map[byte]int{'B': 4, 'C': 1, 0x8e: 8, 0x96: 8}[op]
		n, err := u.readLen(width)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		return u.push(bytes.Clone(b))
	case ']':
		return u.push(&pyList{})
	case ')':
		return u.push(pyTuple{})
	case '}':
		return u.push(newPyDict())
	case 0x8f:
		return u.push(&pySet{})
	case 'l': // LIST
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&pyList{items: items})
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(pyTuple(items))
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op-0x85) + 1
		if len(u.stack) < n {
			return u.errorf("stack underflow")
		}
		t := make(pyTuple, n)
		copy(t, u.stack[len(u.stack)-n:])
		u.stack = u.stack[:len(u.stack)-n]
		return u.push(t)
	case 0x91: // FROZENSET
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&pySet{items: items})
	case 'd': // DICT
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := newPyDict()
		if err := u.setItems(d, items); err != nil {
			return err
		}
		return u.push(d)
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendTo([]any{v})
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items)
	case 0x90: // ADDITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		s, ok := t.(*pySet)
		if !ok {
			return u.errorf("ADDITEMS on %s", typeName(t))
		}
		s.items = append(s.items, items...)
	case 's': // SETITEM
		if len(u.stack) < 3 {
			return u.errorf("stack underflow")
		}
		kv := u.stack[len(u.stack)-2:]
		u.stack = u.stack[:len(u.stack)-2]
		d, ok := u.stack[len(u.stack)-1].(*pyDict)
		if !ok {
			return u.errorf("SETITEM on %s", typeName(u.stack[len(u.stack)-1]))
		}
		return u.setItems(d, kv)
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		d, ok := t.(*pyDict)
		if !ok {
			return u.errorf("SETITEMS on %s", typeName(t))
		}
		return u.setItems(d, items)
	case 'p': // PUT
		s, err := u.readLine()
		if err != nil {
			return err
		}
		idx, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return u.errorf("bad PUT index %s", Quote(s))
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.memoize(idx, v)
	case 'q', 'r': // BINPUT, LONG_BINPUT
		var idx uint64
		if op == 'q' {
			b, err := u.read(1)
			if err != nil {
				return err
			}
			idx = uint64(b[0])
		} else {
			b, err := u.read(4)
			if err != nil {
				return err
			}
			idx = uint64(binary.LittleEndian.Uint32(b))
		}
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.memoize(idx, v)
	case 0x94: // MEMOIZE
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.memoize(uint64(len(u.memo)), v)
	case 'g': // GET
		s, err := u.readLine()
		if err != nil {
			return err
		}
		idx, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return u.errorf("bad GET index %s", Quote(s))
		}
		return u.memoGet(idx)
	case 'h':
		b, err := u.read(1)
		if err != nil {
			return err
		}
		return u.memoGet(uint64(b[0]))
	case 'j':
		b, err := u.read(4)
		if err != nil {
			return err
		}
		return u.memoGet(uint64(binary.LittleEndian.Uint32(b)))
	case 'c': // GLOBAL
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		g, err := u.lookupGlobal(module, name)
		if err != nil {
			return err
		}
		return u.push(g)
	case 0x93: // STACK_GLOBAL
		nv, err := u.pop()
		if err != nil {
			return err
		}
		mv, err := u.pop()
		if err != nil {
			return err
		}
		module, ok1 := mv.(string)
		name, ok2 := nv.(string)
		if !ok1 || !ok2 {
			return u.errorf("STACK_GLOBAL wants two strings, got %s and %s", typeName(mv), typeName(nv))
		}
		g, err := u.lookupGlobal(module, name)
		if err != nil {
			return err
		}
		return u.push(g)
	case 'i': // INST: the class is named inline
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		return &errPickle{pos: -1, msg: fmt.Sprintf("global %s is not allowed", Quote(module+"."+name))}
	case 'R', 0x81: // REDUCE, NEWOBJ
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		v, err := u.call(fn, args)
		if err != nil {
			return err
		}
		return u.push(v)
	case 0x92: // NEWOBJ_EX
		kw, err := u.pop()
		if err != nil {
			return err
		}
		if d, ok := kw.(*pyDict); !ok || len(d.keys) != 0 {
			return u.errorf("NEWOBJ_EX with keyword arguments is not supported")
		}
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		v, err := u.call(fn, args)
		if err != nil {
			return err
		}
		return u.push(v)
	case 'b': // BUILD
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		switch obj.(type) {
		case *pyDict, *tensorRef:
			// OrderedDict attributes (state_dict _metadata) and tensor
			// attributes carry nothing the engine uses.
			if _, ok := state.(*pyDict); !ok && state != nil {
				if _, ok := state.(pyTuple); !ok {
					return u.errorf("BUILD on %s with %s state", typeName(obj), typeName(state))
				}
			}
		default:
			return u.errorf("BUILD on %s is not allowed", typeName(obj))
		}
	case 'P': // PERSID (text)
		s, err := u.readLine()
		if err != nil {
			return err
		}
		return u.errorf("text persistent id %s is not supported", Quote(s))
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		v, err := u.persistentLoad(pid)
		if err != nil {
			return err
		}
		return u.push(v)
	case 'o':
		return u.errorf("OBJ opcode is not allowed")
	case 0x82, 0x83, 0x84:
		return u.errorf("extension registry opcodes are not allowed")
	case 0x97, 0x98:
		return u.errorf("out-of-band buffers are not supported")
	case 'S', 'V':
		return u.errorf("protocol 0 string opcode %q is not supported", op)
	default:
		return u.errorf("unknown opcode 0x%02x", op)
	}
	return nil
}

// appendTo implements APPEND and APPENDS on the list (or set) at the top.
func (u *unpickler) appendTo(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	switch l := t.(type) {
	case *pyList:
		l.items = append(l.items, items...)
	case *pySet:
		l.items = append(l.items, items...)
	default:
		return u.errorf("APPEND on %s", typeName(t))
	}
	return nil
}

func (u *unpickler) setItems(d *pyDict, kv []any) error {
	if len(kv)%2 != 0 {
		return u.errorf("odd number of items for a dict")
	}
	for i := 0; i < len(kv); i += 2 {
		if err := d.set(u.keys, kv[i], kv[i+1]); err != nil {
			return u.errorf("%v", err)
		}
	}
	return nil
}

// call applies an allow-listed callable (REDUCE, NEWOBJ).
func (u *unpickler) call(fn, argv any) (any, error) {
	g, ok := fn.(*pyGlobal)
	if !ok {
		return nil, u.errorf("cannot call %s", typeName(fn))
	}
	args, ok := argv.(pyTuple)
	if !ok {
		return nil, u.errorf("%s: arguments are %s, want a tuple", g.name, typeName(argv))
	}
	switch g.kind {
	case gOrderedDict:
		if len(args) != 0 {
			return nil, u.errorf("%s: want no arguments, got %d", g.name, len(args))
		}
		return newPyDict(), nil
	case gSet, gFrozenSet:
		s := &pySet{}
		if len(args) == 0 {
			return s, nil
		}
		l, ok := args[0].(*pyList)
		if len(args) != 1 || !ok {
			return nil, u.errorf("%s: want one list argument", g.name)
		}
		s.items = append(s.items, l.items...)
		return s, nil
	case gBytes:
		if len(args) != 0 {
			return nil, u.errorf("%s: want no arguments, got %d", g.name, len(args))
		}
		return []byte{}, nil
	case gCodecsEncode:
		if len(args) != 2 {
			return nil, u.errorf("%s: want 2 arguments, got %d", g.name, len(args))
		}
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
			return nil, u.errorf("%s: only (str, \"latin1\") is supported", g.name)
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, u.errorf("%s: character %U is not Latin-1", g.name, r)
			}
			b = append(b, byte(r))
		}
		return b, nil
	case gRebuildTensor:
		return u.rebuildTensor(args)
	case gRebuildParameter:
		if len(args) < 1 || len(args) > 3 {
			return nil, u.errorf("%s: want 3 arguments, got %d", g.name, len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, u.errorf("%s: data is %s, want a tensor", g.name, typeName(args[0]))
		}
		return t, nil
	}
	return nil, u.errorf("%s cannot be called", g.name)
}

// rebuildTensor implements torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
func (u *unpickler) rebuildTensor(args pyTuple) (any, error) {
	const fn = "torch._utils._rebuild_tensor_v2"
	if len(args) < 4 || len(args) > 7 {
		return nil, u.errorf("%s: want 6 arguments, got %d", fn, len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, u.errorf("%s: storage is %s, want a persistent storage", fn, typeName(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, u.errorf("%s: bad storage offset %s", fn, shortValue(args[1]))
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, u.errorf("%s: size: %v", fn, err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, u.errorf("%s: stride: %v", fn, err)
	}
	if len(size) != len(stride) {
		return nil, u.errorf("%s: size %s and stride %s differ in length", fn, dims(size), dims(stride))
	}
	return &tensorRef{storage: st, offset: off, size: size, stride: stride}, nil
}

// persistentLoad resolves ('storage', storage_type, key, location, numel).
func (u *unpickler) persistentLoad(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return nil, u.errorf("persistent id %s is not a 5-tuple", typeName(pid))
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, u.errorf("persistent id of kind %s is not supported", shortValue(t[0]))
	}
	g, ok := t[1].(*pyGlobal)
	if !ok || g.kind != gStorage {
		return nil, u.errorf("persistent id: storage type is %s", typeName(t[1]))
	}
	key, ok := t[2].(string)
	if !ok || key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return nil, u.errorf("persistent id: bad storage key %s", shortValue(t[2]))
	}
	if _, ok := t[3].(string); !ok {
		return nil, u.errorf("persistent id: location is %s, want a string", typeName(t[3]))
	}
	n, ok := t[4].(int64)
	if !ok || n < 0 {
		return nil, u.errorf("persistent id: bad element count %s", shortValue(t[4]))
	}
	if n > u.maxStorageBytes/g.storage.elemSize {
		return nil, u.errorf("storage %s claims %d elements of %d bytes, more than the %d-byte file", Quote(key), n, g.storage.elemSize, u.maxStorageBytes)
	}
	if prev, ok := u.storages[key]; ok {
		if prev.typ != g.storage || prev.numel != n {
			return nil, u.errorf("storage %s is described twice, differently", Quote(key))
		}
		return prev, nil
	}
	s := &storageRef{key: key, typ: g.storage, numel: n}
	u.storages[key] = s
	return s, nil
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%s, want a tuple of integers", typeName(v))
	}
	out := make([]int64, len(t))
	for i, e := range t {
		n, ok := e.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is %s, want an integer", i, typeName(e))
		}
		out[i] = n
	}
	return out, nil
}

// decodeLong decodes a two's complement little-endian integer (LONG1/LONG4)
// as an int64 when it fits, else as a *big.Int: a too large integer is an
// error only where the value is used.
func decodeLong(b []byte) (any, error) {
	if len(b) > 8 {
		be := make([]byte, len(b))
		for i := range b {
			be[len(b)-1-i] = b[i]
		}
		x := new(big.Int).SetBytes(be)
		if b[len(b)-1]&0x80 != 0 {
			x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		if !x.IsInt64() {
			return x, nil
		}
		return x.Int64(), nil
	}
	return decodeLong64(b), nil
}

func decodeLong64(b []byte) int64 {
	if len(b) > 0 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := uint(64 - 8*len(b))
		return int64(v<<shift) >> shift
	}
	return 0
}

// pyUTF8 reports whether Python's utf-8 codec with "surrogatepass" decodes
// b: valid UTF-8 where the three-byte encodings of U+D800..U+DFFF are also
// allowed.
func pyUTF8(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			if len(b) < 3 || b[0] != 0xED || b[1] < 0xA0 || b[1] > 0xBF || b[2] < 0x80 || b[2] > 0xBF {
				return false
			}
			n = 3
		}
		b = b[n:]
	}
	return true
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// newPyDict returns an empty dict; its index is made on the first set
// (a pickle of empty dicts is a cheap way to ask for memory).
func newPyDict() *pyDict { return &pyDict{} }

// set stores k: v, replacing an equal key as Python does. h hashes the key.
func (d *pyDict) set(h *keyHasher, k, v any) error {
	hk, err := h.key(k, 0)
	if err != nil {
		return err
	}
	if i, ok := d.index[hk]; ok {
		d.vals[i] = v
		return nil
	}
	if d.index == nil {
		d.index = make(map[dictKey]int)
		d.h = h
	}
	d.index[hk] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// get returns the value of the string key k.
func (d *pyDict) get(k string) (any, bool) {
	if d.h == nil {
		return nil, false
	}
	id, ok := d.h.strs[k]
	if !ok {
		return nil, false
	}
	i, ok := d.index[dictKey{kind: 's', n: id}]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// dictKey is a hashable Python value as a small comparable Go value: the
// value itself for None, bools, ints and floats, else the id the keyHasher
// gave its content.
type dictKey struct {
	kind byte
	n    uint64
}

// identity is a string, bytes, integer or tuple object of the pickle, by
// address: values reused through the memo share it.
type identity struct {
	p    unsafe.Pointer
	n    int
	kind byte
}

// keyHasher gives dict keys their dictKey. Each string, bytes, large
// integer or tuple object is hashed once, when first used as a key, and
// then found by its address: a key reused through the memo a million times
// costs its length once, not a million times, and hashing stays linear in
// the pickle. The content of a key (its bytes, all elements of a tuple
// counted) may not exceed maxKeyBytes.
type keyHasher struct {
	byAddr map[identity]hashed
	strs   map[string]uint64 // string content -> id
	other  map[string]uint64 // bytes, integer and tuple encodings -> id
	next   uint64
}

type hashed struct {
	key  dictKey
	size int // content bytes, counted as in maxKeyBytes
}

func newKeyHasher() *keyHasher {
	return &keyHasher{byAddr: make(map[identity]hashed), strs: make(map[string]uint64), other: make(map[string]uint64)}
}

// key returns the dictKey of k. Python's 1 == 1.0 == True is not
// reproduced: such keys stay distinct.
func (h *keyHasher) key(k any, depth int) (dictKey, error) {
	hk, err := h.hash(k, depth)
	if err != nil {
		return dictKey{}, err
	}
	if hk.size > maxKeyBytes {
		return dictKey{}, fmt.Errorf("dict key of %d bytes: more than the %d allowed", hk.size, maxKeyBytes)
	}
	return hk.key, nil
}

func (h *keyHasher) hash(k any, depth int) (hashed, error) {
	if depth > maxPickleDepth {
		return hashed{}, errors.New("dict key nested too deeply")
	}
	switch k := k.(type) {
	case nil:
		return hashed{dictKey{'N', 0}, 8}, nil
	case bool:
		n := uint64(0)
		if k {
			n = 1
		}
		return hashed{dictKey{'b', n}, 8}, nil
	case int64:
		return hashed{dictKey{'i', uint64(k)}, 8}, nil
	case float64:
		return hashed{dictKey{'f', math.Float64bits(k)}, 8}, nil
	case string:
		id := identity{unsafe.Pointer(unsafe.StringData(k)), len(k), 's'}
		if hk, ok := h.byAddr[id]; ok {
			return hk, nil
		}
		hk := hashed{size: len(k)}
		if len(k) <= maxKeyBytes {
			hk.key = dictKey{'s', h.intern(h.strs, k)}
		}
		h.byAddr[id] = hk
		return hk, nil
	case []byte:
		id := identity{unsafe.Pointer(unsafe.SliceData(k)), len(k), 'y'}
		if hk, ok := h.byAddr[id]; ok {
			return hk, nil
		}
		hk := hashed{size: len(k)}
		if len(k) <= maxKeyBytes {
			hk.key = dictKey{'y', h.intern(h.other, "y"+string(k))}
		}
		h.byAddr[id] = hk
		return hk, nil
	case *big.Int:
		id := identity{unsafe.Pointer(k), 0, 'i'}
		if hk, ok := h.byAddr[id]; ok {
			return hk, nil
		}
		hk := hashed{size: (k.BitLen() + 7) / 8}
		if hk.size <= maxKeyBytes {
			// Converted once: sign and magnitude bytes, no decimal.
			hk.key = dictKey{'I', h.intern(h.other, fmt.Sprintf("I%d", k.Sign())+string(k.Bytes()))}
		}
		h.byAddr[id] = hk
		return hk, nil
	case pyTuple:
		id := identity{unsafe.Pointer(unsafe.SliceData(k)), len(k), 't'}
		if hk, ok := h.byAddr[id]; ok {
			return hk, nil
		}
		hk := hashed{size: 8}
		enc := make([]byte, 1, 1+9*len(k))
		enc[0] = 't'
		for _, e := range k {
			eh, err := h.hash(e, depth+1)
			if err != nil {
				return hashed{}, err
			}
			if hk.size += eh.size; hk.size > maxKeyBytes {
				// Elements shared through the memo could make the
				// count overflow: stop here.
				hk.size = maxKeyBytes + 1
				break
			}
			enc = append(enc, eh.key.kind)
			enc = binary.LittleEndian.AppendUint64(enc, eh.key.n)
		}
		if hk.size <= maxKeyBytes {
			hk.key = dictKey{'t', h.intern(h.other, string(enc))}
		}
		h.byAddr[id] = hk
		return hk, nil
	}
	return hashed{}, fmt.Errorf("unhashable dict key of type %s", typeName(k))
}

// intern returns the id of content s in m, giving it the next one if new.
func (h *keyHasher) intern(m map[string]uint64, s string) uint64 {
	if id, ok := m[s]; ok {
		return id
	}
	h.next++
	m[s] = h.next
	return h.next
}

// shortValue describes a pickle value for a message: a quoted and
// shortened string, an integer, or the type of anything else.
func shortValue(v any) string {
	switch x := v.(type) {
	case string:
		return Quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case *big.Int:
		if x.BitLen() <= 256 {
			return x.String()
		}
		return fmt.Sprintf("(an integer of %d bits)", x.BitLen())
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return "(" + typeName(v) + ")"
}

// dims prints an integer list read from a file (a pickle's tuple, a
// safetensors shape), at most 16 entries.
func dims(x []int64) string {
	if len(x) <= 16 {
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("%v... (%d dimensions)", x[:16], len(x))
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *pyList:
		return "list"
	case pyTuple:
		return "tuple"
	case *pySet:
		return "set"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return v.name
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// converter turns unpickled values into the package's public form.
type converter struct {
	// tensor, when set, converts tensors; otherwise a tensor is an error.
	tensor   func(*tensorRef) (any, error)
	active   map[any]bool // containers being converted, to refuse cycles
	visited  int          // values converted so far, bounded by maxValues
	keyBytes int          // bytes of dict keys hashed so far, bounded by maxConvKeyBytes
}

// plain converts v (see the package documentation for the mapping).
func (c *converter) plain(v any, depth int) (any, error) {
	if depth > maxPickleDepth {
		return nil, fmt.Errorf("data nested deeper than %d", maxPickleDepth)
	}
	if c.visited++; c.visited > maxValues {
		return nil, fmt.Errorf("data of more than %d values", maxValues)
	}
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte:
		return x, nil
	case *tensorRef:
		if c.tensor == nil {
			return nil, errors.New("unexpected tensor")
		}
		return c.tensor(x)
	case pyTuple:
		return c.list(v, x, depth)
	case *pyList:
		return c.list(v, x.items, depth)
	case *pySet:
		return c.list(v, x.items, depth)
	case *pyDict:
		if err := c.enter(x); err != nil {
			return nil, err
		}
		defer delete(c.active, x)
		m := make(map[string]any, len(x.keys))
		for i, k := range x.keys {
			ks, err := keyString(k)
			if err != nil {
				return nil, err
			}
			if c.keyBytes += len(ks); c.keyBytes > maxConvKeyBytes {
				return nil, fmt.Errorf("data whose dict keys hold more than %d bytes in all", maxConvKeyBytes)
			}
			if _, dup := m[ks]; dup {
				return nil, fmt.Errorf("two dict keys read as %s", Quote(ks))
			}
			e, err := c.plain(x.vals[i], depth+1)
			if err != nil {
				if depth >= maxErrPath {
					return nil, err
				}
				return nil, fmt.Errorf("[%s]: %w", Quote(ks), err)
			}
			m[ks] = e
		}
		return m, nil
	case *big.Int:
		if x.BitLen() > 256 {
			return nil, fmt.Errorf("an integer of %d bits does not fit in 64 bits", x.BitLen())
		}
		return nil, fmt.Errorf("integer %s does not fit in 64 bits", x)
	case *pyGlobal:
		return nil, fmt.Errorf("unexpected %s", x.name)
	}
	return nil, fmt.Errorf("unexpected %s", typeName(v))
}

func (c *converter) enter(p any) error {
	if c.active == nil {
		c.active = make(map[any]bool)
	}
	if c.active[p] {
		return errors.New("recursive data structure")
	}
	c.active[p] = true
	return nil
}

func (c *converter) list(id any, items []any, depth int) (any, error) {
	if _, isTuple := id.(pyTuple); !isTuple {
		if err := c.enter(id); err != nil {
			return nil, err
		}
		defer delete(c.active, id)
	}
	out := make([]any, len(items))
	for i, e := range items {
		v, err := c.plain(e, depth+1)
		if err != nil {
			if depth >= maxErrPath {
				return nil, err
			}
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// keyString writes a dict key the way Python's repr would for non-strings.
func keyString(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case *big.Int:
		if k.BitLen() > maxIntKeyBits {
			return "", fmt.Errorf("integer dict key of %d bits is too large to write as a string key (Python's limit is 4300 digits)", k.BitLen())
		}
		return k.String(), nil
	case bool:
		if k {
			return "True", nil
		}
		return "False", nil
	case nil:
		return "None", nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("dict key of type %s cannot be a string key", typeName(k))
}
