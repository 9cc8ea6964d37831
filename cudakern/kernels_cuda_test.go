//go:build cuda

package cudakern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/labcoreai/tokbench/gpt"
	"github.com/labcoreai/tokbench/gpt/cpukern"
	"gorgonia.org/cu"
)

var sprintf = fmt.Sprintf

// Tolerances, relative to max(1, max |reference|). References are computed
// in float64 from the fp16-rounded inputs the kernels see, so the error is
// the kernels' own: fp32 accumulation and fp16 rounding of their outputs.
const (
	tolF32  = 1e-4 // fp32 outputs
	tolHalf = 2e-3 // fp16 outputs (half an ulp is 2.4e-4 relative, plus accumulation)
)

func TestEmbed(t *testing.T) {
	d := newDev(t)
	r := rand.New(rand.NewPCG(1, 2))
	const V, T, C, P = 37, 5, 40, 9
	wte, wpe := roundHalf(randVec(r, V*C, 1)), roundHalf(randVec(r, P*C, 1))
	ids := []int32{3, 0, 36, 3, 17}
	x := d.zeros(T * C * 4)
	dwte, dwpe, dids := d.half(wte), d.half(wpe), d.int32s(ids)
	// Prefill form: one row per id at positions 0..T-1.
	d.launch("embed", dim3{T, 1, 1}, dim3{rowThreads, 1, 1}, 0, ptr(x), ptr(dwte), ptr(dwpe), ptr(dids), 0, 0, i64(C))
	want := make([]float32, T*C)
	for t, id := range ids {
		for i := range C {
			want[t*C+i] = wte[int(id)*C+i] + wpe[t*C+i]
		}
	}
	assertNear(t, want, d.readFloat(x, T*C), 1e-7, "embed prefill")
	// Decode form: ids null, token and position as arguments; no wpe (RoPE).
	d.launch("embed", dim3{1, 1, 1}, dim3{rowThreads, 1, 1}, 0, ptr(x), ptr(dwte), ptr(dwpe), 0, 12, 7, i64(C))
	for i := range C {
		want[i] = wte[12*C+i] + wpe[7*C+i]
	}
	assertNear(t, want[:C], d.readFloat(x, C), 1e-7, "embed decode")
	d.launch("embed", dim3{1, 1, 1}, dim3{rowThreads, 1, 1}, 0, ptr(x), ptr(dwte), 0, 0, 5, 0, i64(C))
	assertNear(t, wte[5*C:6*C], d.readFloat(x, C), 1e-7, "embed without wpe")
}

func TestLayerNorm(t *testing.T) {
	for _, C := range []int{40, 771} {
		t.Run(sprintf("C=%d", C), func(t *testing.T) {
			d := newDev(t)
			r := rand.New(rand.NewPCG(uint64(C), 3))
			const T = 3
			x := randVec(r, T*C, 2)
			for i := range x {
				x[i] += 0.5 // a mean to remove
			}
			w, b := roundHalf(randVec(r, C, 1)), roundHalf(randVec(r, C, 0.1))
			out := d.zeros(T * int64(C) * 2)
			d.launch("layernorm", dim3{T, 1, 1}, dim3{rowThreads, 1, 1}, 0, ptr(out), ptr(d.float(x)), ptr(d.half(w)), ptr(d.half(b)), i64(C))
			want := make([]float32, T*C)
			for t := range T {
				cpukern.LayerNorm(want[t*C:(t+1)*C], x[t*C:(t+1)*C], w, b)
			}
			assertNear(t, want, d.readHalf(out, T*C), tolHalf, "layernorm")
		})
	}
}

// linearRef computes epilogue(a[M,K] . w[N,K]^T + b) in float64; out0 is
// the initial content of an fp32 output (mode outAddF32).
func linearRef(a, w, b []float32, M, N, K int, mode int, out0 []float32) []float32 {
	out := make([]float32, M*N)
	for m := range M {
		for n := range N {
			var s float64
			for k := range K {
				s += float64(a[m*K+k]) * float64(w[n*K+k])
			}
			if b != nil {
				s += float64(b[n])
			}
			switch mode {
			case outHalfGELU:
				s = gelu64(s)
			case outAddF32:
				s += float64(out0[m*N+n])
			}
			out[m*N+n] = float32(s)
		}
	}
	return out
}

func modeName(mode int) string {
	return [...]string{"half", "half_gelu", "add_f32", "f32"}[mode]
}

func TestMatvec(t *testing.T) {
	shapes := []struct{ N, K int }{{1, 64}, {37, 40}, {300, 771}, {2304, 768}, {768, 3072}, {13, 5}}
	for _, s := range shapes {
		for mode := range 4 {
			for _, ln := range []bool{false, true} {
				name := sprintf("N=%d/K=%d/%s/ln=%v", s.N, s.K, modeName(mode), ln)
				t.Run(name, func(t *testing.T) {
					d := newDev(t)
					r := rand.New(rand.NewPCG(uint64(s.N*7+s.K), uint64(mode)))
					N, K := s.N, s.K
					w := roundHalf(randVec(r, N*K, 0.05))
					var bias []float32
					if mode != outF32 {
						bias = roundHalf(randVec(r, N, 0.1))
					}
					x := randVec(r, K, 1)
					var xf, xh cu.DevicePtr
					var nrm norm
					in := x
					if ln {
						// fp32 input, layer-normalised in the kernel.
						xf = d.float(x)
						lw, lb := roundHalf(randVec(r, K, 1)), roundHalf(randVec(r, K, 0.1))
						nrm = norm{d.half(lw), d.half(lb)}
						in = make([]float32, K)
						lnRef64(in, x, lw, lb)
					} else {
						in = roundHalf(x)
						xh = d.half(in)
					}
					out0 := randVec(r, N, 1)
					var outh, outf cu.DevicePtr
					if mode == outHalf || mode == outHalfGELU {
						outh = d.zeros(int64(N) * 2)
					} else {
						outf = d.float(out0)
					}
					if err := launchMatvec(d.l, d.half(w), d.half(bias), N, K, xf, xh, nrm, ptr(outh), ptr(outf), mode); err != nil {
						t.Fatal(err)
					}
					want := linearRef(in, w, bias, 1, N, K, mode, out0)
					if outh != 0 {
						assertNear(t, want, d.readHalf(outh, N), tolHalf, name)
					} else {
						assertNear(t, want, d.readFloat(outf, N), tolF32*math.Sqrt(float64(K)/64), name)
					}
				})
			}
		}
	}
}

// lnRef64 is LayerNorm in float64 without rounding the output.
func lnRef64(out, x, w, b []float32) {
	var mean, vr float64
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	for _, v := range x {
		vr += (float64(v) - mean) * (float64(v) - mean)
	}
	inv := 1 / math.Sqrt(vr/float64(len(x))+cpukern.LNEps)
	for i, v := range x {
		out[i] = float32((float64(v)-mean)*inv*float64(w[i]) + float64(b[i]))
	}
}

func TestMatmul(t *testing.T) {
	shapes := []struct{ M, N, K int }{{1, 1, 1}, {5, 37, 40}, {64, 64, 64}, {70, 130, 96}, {33, 200, 771}, {128, 2304, 768}, {17, 64, 3072}}
	for _, kernel := range []string{"matmul_tc", "matmul_simple"} {
		for _, s := range shapes {
			for mode := range 4 {
				name := sprintf("%s/M=%d/N=%d/K=%d/%s", kernel, s.M, s.N, s.K, modeName(mode))
				t.Run(name, func(t *testing.T) {
					d := newDev(t)
					r := rand.New(rand.NewPCG(uint64(s.M*131+s.N*7+s.K), uint64(mode)))
					M, N, K := s.M, s.N, s.K
					a := roundHalf(randVec(r, M*K, 1))
					w := roundHalf(randVec(r, N*K, 0.05))
					bias := roundHalf(randVec(r, N, 0.1))
					if mode == outF32 {
						bias = nil
					}
					out0 := randVec(r, M*N, 1)
					var outh, outf cu.DevicePtr
					if mode == outHalf || mode == outHalfGELU {
						outh = d.zeros(int64(M*N) * 2)
					} else {
						outf = d.float(out0)
					}
					if err := launchMatmul(d.l, kernel, d.half(a), d.half(w), d.half(bias), M, N, K, ptr(outh), ptr(outf), mode); err != nil {
						t.Fatal(err)
					}
					want := linearRef(a, w, bias, M, N, K, mode, out0)
					if outh != 0 {
						assertNear(t, want, d.readHalf(outh, M*N), tolHalf, name)
					} else {
						assertNear(t, want, d.readFloat(outf, M*N), tolF32*math.Sqrt(float64(K)/64), name)
					}
				})
			}
		}
	}
}

// ropeRef rotates the pairs of every head of vec at position pos in float32
// (as the kernels do), rounding the result to fp16.
func ropeRef(vec []float32, hd, pos int, cos, sin []float32) {
	half := hd / 2
	for h := 0; h < len(vec)/hd; h++ {
		cpukern.Rotate(vec[h*hd:(h+1)*hd], cos[pos*half:(pos+1)*half], sin[pos*half:(pos+1)*half])
	}
	copy(vec, roundHalf(vec))
}

func TestRopeStore(t *testing.T) {
	for _, rope := range []bool{true, false} {
		t.Run(sprintf("rope=%v", rope), func(t *testing.T) {
			d := newDev(t)
			r := rand.New(rand.NewPCG(5, 6))
			const T, C, hd, slots, slot0, pos0 = 5, 64, 16, 9, 3, 2
			qkv := roundHalf(randVec(r, T*3*C, 1))
			cs, sn := gpt.RopeTables(hd, 20)
			dq := d.half(qkv)
			kc, vc := d.zeros(slots*C*2), d.zeros(slots*C*2)
			var dcos, dsin cu.DevicePtr
			if rope {
				dcos, dsin = d.float(cs), d.float(sn)
			}
			d.launch("rope_store", dim3{T, 1, 1}, dim3{rowThreads, 1, 1}, 0, ptr(dq), i64(C), i64(hd), ptr(kc), ptr(vc), slot0, pos0, ptr(dcos), ptr(dsin))
			wantQKV := append([]float32(nil), qkv...)
			wantK, wantV := make([]float32, slots*C), make([]float32, slots*C)
			for t := range T {
				row := wantQKV[t*3*C : (t+1)*3*C]
				if rope {
					ropeRef(row[:C], hd, pos0+t, cs, sn)
					ropeRef(row[C:2*C], hd, pos0+t, cs, sn)
				}
				copy(wantK[(slot0+t)*C:], row[C:2*C])
				copy(wantV[(slot0+t)*C:], row[2*C:])
			}
			gotQKV := d.readHalf(dq, T*3*C)
			for i := range T { // only q is rotated in place; k and v rows stay
				assertNear(t, wantQKV[i*3*C:i*3*C+C], gotQKV[i*3*C:i*3*C+C], tolHalf, "q row %d", i)
			}
			assertNear(t, wantK, d.readHalf(kc, slots*C), tolHalf, "k cache")
			assertNear(t, wantV, d.readHalf(vc, slots*C), 0, "v cache")
		})
	}
}

// attendRef is causal (or n-key) attention in float64 for one query row.
func attendRef(out, q, keys, vals []float32, n, C, hd, off int) {
	s := make([]float64, n)
	mx := math.Inf(-1)
	for j := range n {
		var dot float64
		for i := range hd {
			dot += float64(q[off+i]) * float64(keys[j*C+off+i])
		}
		s[j] = dot / math.Sqrt(float64(hd))
		mx = math.Max(mx, s[j])
	}
	var z float64
	for j := range s {
		s[j] = math.Exp(s[j] - mx)
		z += s[j]
	}
	for i := range hd {
		var acc float64
		for j := range n {
			acc += s[j] * float64(vals[j*C+off+i])
		}
		out[off+i] = float32(acc / z)
	}
}

var attnShapes = []struct{ C, nh int }{{64, 4}, {60, 4}, {384, 2}, {768, 12}}

func TestAttentionPrefill(t *testing.T) {
	for _, s := range attnShapes {
		t.Run(sprintf("C=%d/nh=%d", s.C, s.nh), func(t *testing.T) {
			d := newDev(t)
			r := rand.New(rand.NewPCG(uint64(s.C), 7))
			C, nh, hd, T := s.C, s.nh, s.C/s.nh, 37
			qkv := roundHalf(randVec(r, T*3*C, 1))
			keys, vals := make([]float32, T*C), make([]float32, T*C)
			for t := range T {
				copy(keys[t*C:], qkv[t*3*C+C:t*3*C+2*C])
				copy(vals[t*C:], qkv[t*3*C+2*C:(t+1)*3*C])
			}
			out := d.zeros(int64(T*C) * 2)
			d.launch("attention", dim3{T, nh, 1}, dim3{attnThreads, 1, 1}, attnShared(hd, T),
				ptr(d.half(qkv)), ptr(d.half(keys)), ptr(d.half(vals)), ptr(out), i64(C), i64(hd), 0, 1, 0, 0, 0, 0, 0)
			want := make([]float32, T*C)
			for t := range T {
				for h := range nh {
					attendRef(want[t*C:(t+1)*C], qkv[t*3*C:t*3*C+C], keys, vals, t+1, C, hd, h*hd)
				}
			}
			assertNear(t, want, d.readHalf(out, T*C), tolHalf, "attention")
		})
	}
}

func TestAttentionDecode(t *testing.T) {
	for _, s := range attnShapes {
		for _, rope := range []bool{false, true} {
			if rope && (s.C/s.nh)%2 != 0 {
				continue
			}
			t.Run(sprintf("C=%d/nh=%d/rope=%v", s.C, s.nh, rope), func(t *testing.T) {
				d := newDev(t)
				r := rand.New(rand.NewPCG(uint64(s.C), 8))
				C, nh, hd := s.C, s.nh, s.C/s.nh
				const slots, attend, slot, pos = 40, 29, 11, 40 // ring full up to 29, new entry at 11
				qkv := roundHalf(randVec(r, 3*C, 1))
				keys, vals := roundHalf(randVec(r, slots*C, 1)), roundHalf(randVec(r, slots*C, 1))
				cs, sn := gpt.RopeTables(hd, pos+1)
				var dcos, dsin cu.DevicePtr
				if rope {
					dcos, dsin = d.float(cs), d.float(sn)
				}
				kc, vc := d.half(keys), d.half(vals)
				out := d.zeros(int64(C) * 2)
				d.launch("attention", dim3{1, nh, 1}, dim3{attnThreads, 1, 1}, attnShared(hd, attend),
					ptr(d.half(qkv)), ptr(kc), ptr(vc), ptr(out), i64(C), i64(hd), attend, 0, 1, slot, pos, ptr(dcos), ptr(dsin))
				q := append([]float32(nil), qkv[:C]...)
				k := append([]float32(nil), qkv[C:2*C]...)
				if rope {
					ropeRef(q, hd, pos, cs, sn)
					ropeRef(k, hd, pos, cs, sn)
				}
				copy(keys[slot*C:], k)
				copy(vals[slot*C:], qkv[2*C:])
				want := make([]float32, C)
				for h := range nh {
					attendRef(want, q, keys, vals, attend, C, hd, h*hd)
				}
				assertNear(t, want, d.readHalf(out, C), tolHalf, "attention output")
				assertNear(t, keys, d.readHalf(kc, slots*C), tolHalf, "k cache after the write")
				assertNear(t, vals, d.readHalf(vc, slots*C), 0, "v cache after the write")
			})
		}
	}
}

func TestAllocatorPeakIsLiveSumAtHighPoint(t *testing.T) {
	d := newDev(t)
	a := NewAllocator()
	p1, err := a.Alloc(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := a.Alloc(3 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Free(p1); err != nil {
		t.Fatal(err)
	}
	p3, err := a.Alloc(2 << 20) // live: 3+2 = 5 MiB, the high point
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Free(p2); err != nil {
		t.Fatal(err)
	}
	if got := a.PeakBytes(); got != 5<<20 {
		t.Errorf("peak %d, want %d", got, 5<<20)
	}
	if got := a.Live(); got != 2<<20 {
		t.Errorf("live %d, want %d", got, 2<<20)
	}
	a.ResetPeak()
	if got := a.PeakBytes(); got != 2<<20 {
		t.Errorf("peak after reset %d, want %d", got, 2<<20)
	}
	if err := a.Free(p3); err != nil {
		t.Fatal(err)
	}
	if err := a.Free(p3); err == nil {
		t.Error("a double free must fail")
	}
	if a.Live() != 0 || a.Count() != 0 {
		t.Errorf("live %d bytes in %d allocations after freeing all", a.Live(), a.Count())
	}
	_ = d
}
