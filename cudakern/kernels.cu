// Kernels of the LabCore GPT forward pass: fp16 weights, KV cache and
// activations, fp32 accumulation, fp32 residual stream and logits.
//
// Compiled to PTX by `make ptx` (nvcc -ptx -arch=compute_80); the PTX is
// committed as kernels.ptx and JIT-compiled by the driver at load time.
//
// Every kernel parameter is 8 bytes wide (a pointer or a long long):
// gorgonia.org/cu's Launch copies 8 bytes per parameter. A null pointer
// means "absent" (no bias, no wpe, no RoPE, ...). Keep kernelArity in
// kernels.go in step with the parameter lists below.

#include <cuda_fp16.h>
#include <mma.h>

using namespace nvcuda;

typedef long long i64;

// Output modes of matvec and matmul (the epilogue).
#define OUT_HALF 0      // outh = half(acc + b)
#define OUT_HALF_GELU 1 // outh = half(gelu(acc + b))
#define OUT_ADD_F32 2   // outf += acc + b   (residual add)
#define OUT_F32 3       // outf = acc + b    (logits)

#define LN_EPS 1e-5f

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// block_sum returns the sum of v over the block to every thread. blockDim.x
// must be a multiple of 32; red holds at least 32 floats.
__device__ float block_sum(float v, float* red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    float s = 0.f;
    for (int i = 0; i < nw; i++) s += red[i];
    return s;
}

__device__ float block_max(float v, float* red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    float m = -INFINITY;
    for (int i = 0; i < nw; i++) m = fmaxf(m, red[i]);
    return m;
}

__device__ __forceinline__ float gelu(float v) {
    return 0.5f * v * (1.f + erff(v * 0.70710678118654752440f));
}

__device__ __forceinline__ void store_out(float v, i64 idx, i64 mode, __half* outh, float* outf) {
    switch (mode) {
    case OUT_HALF: outh[idx] = __float2half_rn(v); break;
    case OUT_HALF_GELU: outh[idx] = __float2half_rn(gelu(v)); break;
    case OUT_ADD_F32: outf[idx] += v; break;
    default: outf[idx] = v; break;
    }
}

// embed: x[t] = wte[id_t] + wpe[pos0 + t] (fp32), one block per row.
// ids (int32, T entries) may be null: then every row uses id.
extern "C" __global__ void embed(float* x, const __half* wte, const __half* wpe,
                                 const int* ids, i64 id, i64 pos0, i64 C) {
    i64 t = blockIdx.x;
    i64 tok = ids ? (i64)ids[t] : id;
    const __half* e = wte + tok * C;
    const __half* p = wpe ? wpe + (pos0 + t) * C : nullptr;
    for (i64 i = threadIdx.x; i < C; i += blockDim.x) {
        float v = __half2float(e[i]);
        if (p) v += __half2float(p[i]);
        x[t * C + i] = v;
    }
}

// layernorm: out[t] = half(LN(x[t]) * w + b), one block per row.
extern "C" __global__ void layernorm(__half* out, const float* x, const __half* w,
                                     const __half* b, i64 C) {
    __shared__ float red[32];
    i64 t = blockIdx.x;
    const float* row = x + t * C;
    float s = 0.f;
    for (i64 i = threadIdx.x; i < C; i += blockDim.x) s += row[i];
    float mean = block_sum(s, red) / (float)C;
    float q = 0.f;
    for (i64 i = threadIdx.x; i < C; i += blockDim.x) {
        float d = row[i] - mean;
        q += d * d;
    }
    float inv = rsqrtf(block_sum(q, red) / (float)C + LN_EPS);
    for (i64 i = threadIdx.x; i < C; i += blockDim.x)
        out[t * C + i] = __float2half_rn((row[i] - mean) * inv * __half2float(w[i]) + __half2float(b[i]));
}

// matvec: one output row per warp, blockDim.x/32 rows per block.
// The input vector (K entries) is xh (fp16) or, when xh is null, xf (fp32);
// when lnw is non-null it is layer-normalised first (with lnw, lnb). It is
// staged in dynamic shared memory: K*4 bytes, 16-byte aligned.
// W is [N, K] row-major; bias may be null. Rows of K%8==0 are read with
// 16-byte loads.
extern "C" __global__ void matvec(const __half* __restrict__ W, const __half* __restrict__ bias,
                                  i64 N, i64 K, const float* xf, const __half* xh,
                                  const __half* lnw, const __half* lnb,
                                  __half* outh, float* outf, i64 mode) {
    extern __shared__ float4 smem4[];
    float* sx = (float*)smem4;
    __shared__ float red[32];
    for (i64 i = threadIdx.x; i < K; i += blockDim.x) sx[i] = xh ? __half2float(xh[i]) : xf[i];
    __syncthreads();
    if (lnw) {
        float s = 0.f;
        for (i64 i = threadIdx.x; i < K; i += blockDim.x) s += sx[i];
        float mean = block_sum(s, red) / (float)K;
        float q = 0.f;
        for (i64 i = threadIdx.x; i < K; i += blockDim.x) {
            float d = sx[i] - mean;
            q += d * d;
        }
        float inv = rsqrtf(block_sum(q, red) / (float)K + LN_EPS);
        for (i64 i = threadIdx.x; i < K; i += blockDim.x)
            sx[i] = (sx[i] - mean) * inv * __half2float(lnw[i]) + __half2float(lnb[i]);
        __syncthreads();
    }
    int lane = threadIdx.x & 31;
    i64 row = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= N) return;
    const __half* wr = W + row * K;
    float acc = 0.f;
    if ((K & 7) == 0) {
        const uint4* w4 = (const uint4*)wr;
        const float4* x4 = (const float4*)sx;
        i64 n8 = K >> 3;
        for (i64 i = lane; i < n8; i += 32) {
            uint4 u = __ldg(w4 + i);
            const __half2* h = (const __half2*)&u;
            float4 xa = x4[2 * i], xb = x4[2 * i + 1];
            float2 f0 = __half22float2(h[0]), f1 = __half22float2(h[1]);
            float2 f2 = __half22float2(h[2]), f3 = __half22float2(h[3]);
            acc += f0.x * xa.x + f0.y * xa.y + f1.x * xa.z + f1.y * xa.w;
            acc += f2.x * xb.x + f2.y * xb.y + f3.x * xb.z + f3.y * xb.w;
        }
    } else {
        for (i64 i = lane; i < K; i += 32) acc += __half2float(wr[i]) * sx[i];
    }
    acc = warp_sum(acc);
    if (lane == 0) {
        if (bias) acc += __half2float(bias[row]);
        store_out(acc, row, mode, outh, outf);
    }
}

// Tiles of matmul_tc: a 64x64 block of C per 128-thread block, each warp a
// 32x32 quadrant made of 2x2 wmma 16x16x16 fragments, K in steps of 32.
#define BM 64
#define BN 64
#define BK 32
#define LDS (BK + 8)
#define LDC (BN + 4)

// load8 copies A[row, k..k+8) to dst (16-byte aligned), zero past the
// matrix.
__device__ __forceinline__ void load8(__half* dst, const __half* A, i64 row, i64 rows, i64 k, i64 K) {
    if (row < rows && (K & 7) == 0 && k + 8 <= K) {
        *(uint4*)dst = *(const uint4*)(A + row * K + k);
        return;
    }
    for (int q = 0; q < 8; q++)
        dst[q] = (row < rows && k + q < K) ? A[row * K + k + q] : __float2half_rn(0.f);
}

// matmul_tc: C[M, N] = A[M, K] . W[N, K]^T + bias with tensor cores (fp16
// in, fp32 accumulate), then the epilogue of mode. Grid (ceil(N/64),
// ceil(M/64)), 128 threads. Any M, N, K: tiles are zero-padded.
extern "C" __global__ void __launch_bounds__(128)
matmul_tc(const __half* A, const __half* W, const __half* bias, i64 M, i64 N, i64 K,
          __half* outh, float* outf, i64 mode) {
    __shared__ __align__(128) __half As[BM * LDS];
    __shared__ __align__(128) __half Bs[BN * LDS];
    __shared__ __align__(128) float Cs[BM * LDC];
    i64 m0 = (i64)blockIdx.y * BM, n0 = (i64)blockIdx.x * BN;
    int tid = threadIdx.x, warp = tid >> 5, wm = warp >> 1, wn = warp & 1;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);
    for (i64 k0 = 0; k0 < K; k0 += BK) {
        for (int c = tid; c < BM * BK / 8; c += 128) {
            int r = c / (BK / 8), kc = (c % (BK / 8)) * 8;
            load8(&As[r * LDS + kc], A, m0 + r, M, k0 + kc, K);
            load8(&Bs[r * LDS + kc], W, n0 + r, N, k0 + kc, K);
        }
        __syncthreads();
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b[2];
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(a[i], &As[(wm * 32 + i * 16) * LDS + kk], LDS);
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(b[j], &Bs[(wn * 32 + j * 16) * LDS + kk], LDS);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(&Cs[(wm * 32 + i * 16) * LDC + wn * 32 + j * 16], acc[i][j], LDC,
                                    wmma::mem_row_major);
    __syncthreads();
    for (int e = tid; e < BM * BN; e += 128) {
        int r = e / BN, c = e % BN;
        i64 gm = m0 + r, gn = n0 + c;
        if (gm < M && gn < N) {
            float v = Cs[r * LDC + c];
            if (bias) v += __half2float(bias[gn]);
            store_out(v, gm * N + gn, mode, outh, outf);
        }
    }
}

// matmul_simple: the same product without tensor cores, one output per
// thread of a 16x16 block; grid (ceil(N/16), ceil(M/16)). A fallback and a
// second opinion for tests.
extern "C" __global__ void matmul_simple(const __half* A, const __half* W, const __half* bias, i64 M, i64 N,
                                         i64 K, __half* outh, float* outf, i64 mode) {
    i64 n = (i64)blockIdx.x * 16 + threadIdx.x, m = (i64)blockIdx.y * 16 + threadIdx.y;
    if (m >= M || n >= N) return;
    const __half* a = A + m * K;
    const __half* w = W + n * K;
    float acc = 0.f;
    for (i64 k = 0; k < K; k++) acc += __half2float(a[k]) * __half2float(w[k]);
    if (bias) acc += __half2float(bias[n]);
    store_out(acc, m * N + n, mode, outh, outf);
}

// rope_store: for row t of qkv ([T, 3C]: q | k | v), rotate q in place and
// k (RoPE at position pos0+t, when cosT is non-null), then write k and v to
// cache slot slot0+t. One block per row. cosT/sinT are [npos, hd/2] fp32.
extern "C" __global__ void rope_store(__half* qkv, i64 C, i64 hd, __half* kc, __half* vc, i64 slot0, i64 pos0,
                                      const float* cosT, const float* sinT) {
    i64 t = blockIdx.x;
    __half* row = qkv + t * 3 * C;
    __half* kd = kc + (slot0 + t) * C;
    __half* vd = vc + (slot0 + t) * C;
    if (cosT) {
        i64 hh = hd / 2, pos = pos0 + t;
        for (i64 p = threadIdx.x; p < C / 2; p += blockDim.x) {
            i64 i = 2 * p, j = (i % hd) / 2;
            float c = cosT[pos * hh + j], s = sinT[pos * hh + j];
            float qe = __half2float(row[i]), qo = __half2float(row[i + 1]);
            row[i] = __float2half_rn(qe * c - qo * s);
            row[i + 1] = __float2half_rn(qe * s + qo * c);
            float ke = __half2float(row[C + i]), ko = __half2float(row[C + i + 1]);
            kd[i] = __float2half_rn(ke * c - ko * s);
            kd[i + 1] = __float2half_rn(ke * s + ko * c);
        }
    } else {
        for (i64 i = threadIdx.x; i < C; i += blockDim.x) kd[i] = row[C + i];
    }
    for (i64 i = threadIdx.x; i < C; i += blockDim.x) vd[i] = row[2 * C + i];
}

// attention: one block per (query row t = blockIdx.x, head h = blockIdx.y).
// The query is row t of qkv ([T, 3C]); keys and values are cache slots
// 0..n-1 ([slots, C]), n = t+1 when causal (prefill) else nkeys (decode).
// With store (decode, one row), the block first rotates its head of q and
// of the new k (RoPE at pos when cosT is non-null) and writes its head of k
// and v to cache slot `slot`, then attends. out is [T, C].
// Dynamic shared memory: (hd + nmax + blockDim.x) floats, nmax = gridDim.x
// when causal else nkeys.
extern "C" __global__ void attention(const __half* qkv, __half* kc, __half* vc, __half* out, i64 C, i64 hd,
                                     i64 nkeys, i64 causal, i64 store, i64 slot, i64 pos,
                                     const float* cosT, const float* sinT) {
    extern __shared__ float4 smem4[];
    __shared__ float red[32];
    float* sq = (float*)smem4;
    float* ss = sq + hd;
    float* part = ss + (causal ? (i64)gridDim.x : nkeys);
    i64 t = blockIdx.x, h = blockIdx.y, off = h * hd;
    i64 n = causal ? t + 1 : nkeys;
    int tid = threadIdx.x, bd = blockDim.x;
    const __half* q = qkv + t * 3 * C + off;
    if (store) {
        const __half* k = q + C;
        const __half* v = q + 2 * C;
        __half* kd = kc + slot * C + off;
        __half* vd = vc + slot * C + off;
        if (cosT) {
            i64 hh = hd / 2;
            for (i64 j = tid; j < hh; j += bd) {
                float c = cosT[pos * hh + j], s = sinT[pos * hh + j];
                float qe = __half2float(q[2 * j]), qo = __half2float(q[2 * j + 1]);
                // q is rounded to fp16 as the prefill path stores it.
                sq[2 * j] = __half2float(__float2half_rn(qe * c - qo * s));
                sq[2 * j + 1] = __half2float(__float2half_rn(qe * s + qo * c));
                float ke = __half2float(k[2 * j]), ko = __half2float(k[2 * j + 1]);
                kd[2 * j] = __float2half_rn(ke * c - ko * s);
                kd[2 * j + 1] = __float2half_rn(ke * s + ko * c);
            }
        } else {
            for (i64 i = tid; i < hd; i += bd) {
                sq[i] = __half2float(q[i]);
                kd[i] = k[i];
            }
        }
        for (i64 i = tid; i < hd; i += bd) vd[i] = v[i];
    } else {
        for (i64 i = tid; i < hd; i += bd) sq[i] = __half2float(q[i]);
    }
    __syncthreads();
    float scale = rsqrtf((float)hd);
    float mx = -INFINITY;
    for (i64 j = tid; j < n; j += bd) {
        const __half* kr = kc + j * C + off;
        float d = 0.f;
        if ((hd & 1) == 0) {
            const __half2* k2 = (const __half2*)kr;
            for (i64 i = 0; i < hd / 2; i++) {
                float2 f = __half22float2(k2[i]);
                d += sq[2 * i] * f.x + sq[2 * i + 1] * f.y;
            }
        } else {
            for (i64 i = 0; i < hd; i++) d += sq[i] * __half2float(kr[i]);
        }
        d *= scale;
        ss[j] = d;
        mx = fmaxf(mx, d);
    }
    mx = block_max(mx, red);
    float sum = 0.f;
    for (i64 j = tid; j < n; j += bd) {
        float e = expf(ss[j] - mx);
        ss[j] = e;
        sum += e;
    }
    sum = block_sum(sum, red); // its barriers also publish ss
    float inv = 1.f / sum;
    __half* o = out + t * C + off;
    if (hd <= bd) {
        int ng = bd / (int)hd, g = tid / (int)hd, d = tid % (int)hd;
        if (g < ng) {
            float acc = 0.f;
            for (i64 j = g; j < n; j += ng) acc += ss[j] * __half2float(vc[j * C + off + d]);
            part[tid] = acc;
        }
        __syncthreads();
        if (tid < hd) {
            float acc = 0.f;
            for (int gg = 0; gg < ng; gg++) acc += part[gg * hd + tid];
            o[tid] = __float2half_rn(acc * inv);
        }
    } else {
        for (i64 d = tid; d < hd; d += bd) {
            float acc = 0.f;
            for (i64 j = 0; j < n; j++) acc += ss[j] * __half2float(vc[j * C + off + d]);
            o[d] = __float2half_rn(acc * inv);
        }
    }
}
