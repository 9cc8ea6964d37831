package weights

import (
	"encoding/hex"
	"math"
	"reflect"
	"testing"
)

// TestPickleProtocols decodes pickles of one object written by Python's
// pickle with protocols 1 and 3 (text LONG and INT booleans, _codecs.encode
// bytes, BINBYTES, TUPLE1-3, LONG1, NEWTRUE), generated with
//
//	obj = {'a': [1, -2, 300, 70000, 2**40, -2**63, True, False, None, 1.5, 's',
//	             (1, 2), (), (1,), (1, 2, 3), (1, 2, 3, 4)],
//	       'b': {'x': {'y': []}}, 'c': b'xy', 'd': 5}
//	pickle.dumps(obj, protocol=p).hex()
func TestPickleProtocols(t *testing.T) {
	want := map[string]any{
		"a": []any{int64(1), int64(-2), int64(300), int64(70000), int64(1) << 40, int64(math.MinInt64),
			true, false, nil, 1.5, "s",
			[]any{int64(1), int64(2)}, []any{}, []any{int64(1)}, []any{int64(1), int64(2), int64(3)},
			[]any{int64(1), int64(2), int64(3), int64(4)}},
		"b": map[string]any{"x": map[string]any{"y": []any{}}},
		"c": []byte("xy"),
		"d": int64(5),
	}
	for proto, h := range map[int]string{
		1: "7d71002858010000006171015d7102284b014afeffffff4d2c014a701101004c313039393531313632373737364c0a4c2d393232333337323033363835343737353830384c0a4930310a4930300a4e473ff80000000000005801000000737103284b014b0274710429284b01747105284b014b024b03747106284b014b024b034b047471076558010000006271087d7109580100000078710a7d710b580100000079710c5d710d7373580100000063710e635f636f646563730a656e636f64650a710f2858020000007879711058060000006c6174696e31711174711252711358010000006471144b05752e",
		3: "80037d71002858010000006171015d7102284b014afeffffff4d2c014a701101008a060000000000018a08000000000000008088894e473ff800000000000058010000007371034b014b02867104294b018571054b014b024b03877106284b014b024b034b047471076558010000006271087d7109580100000078710a7d710b580100000079710c5d710d7373580100000063710e43027879710f58010000006471104b05752e",
	} {
		data, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		v, err := newUnpickler(data, 1<<20).load()
		if err != nil {
			t.Fatalf("protocol %d: %v", proto, err)
		}
		var c converter
		got, err := c.plain(v, 0)
		if err != nil {
			t.Fatalf("protocol %d: %v", proto, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("protocol %d:\n got %#v\nwant %#v", proto, got, want)
		}
	}
}

// TestPickleSharedData: memo references make exponentially large data in a
// few bytes; conversion stops at maxValues.
func TestPickleSharedData(t *testing.T) {
	// l0 = [0], memo 0; then l(i+1) = [l(i), l(i)], memo i+1: MARK,
	// BINGET i, BINGET i, LIST, BINPUT i+1. 40 levels hold 2**40 leaves.
	b := []byte("\x80\x02]K\x00aq\x00")
	for i := range 40 {
		b = append(b, '(', 'h', byte(i), 'h', byte(i), 'l', 'q', byte(i+1))
	}
	b = append(b, '.')
	v, err := newUnpickler(b, 1<<20).load()
	if err != nil {
		t.Fatal(err)
	}
	var c converter
	if _, err := c.plain(v, 0); err == nil {
		t.Fatal("2**40 values converted without error")
	}
}
