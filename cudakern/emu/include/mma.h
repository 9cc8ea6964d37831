// mma.h for the CPU emulator: the nvcuda::wmma subset kernels.cu uses
// (16x16x16, fp16 inputs, fp32 accumulator).
//
// wmma operations are warp-collective: every lane passes the same
// arguments and the warp as a whole holds the fragment. Here each
// operation is a warp barrier at which every lane must arrive with the
// same operation, address and ldm (else the launch faults); lane 0 then
// holds the whole 16x16 tile and performs it, and the other lanes'
// fragments are never read. That is exact for code that only moves
// fragments through fill/load/mma/store, as kernels.cu does. The alignment
// rules that make a GPU fault or misread (256-bit aligned pointers, ldm a
// multiple of 16 bytes) are checked. Products are exact and sums are fp32
// in k order; tensor cores sum in another order, so results differ from a
// GPU's in the last bits.
#pragma once

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    static constexpr int rows = 16, cols = 16;
    float v[16 * 16]; // row-major tile, element (r, c) at v[r*16 + c]
};

namespace detail {
enum { kFill = 1, kLoadA, kLoadB, kMma, kStore };
inline void check(const void* p, unsigned ldm, unsigned elem, const char* op) {
    if ((uintptr_t)p % 32 != 0) emu::fault("wmma::%s: pointer %p is not 256-bit aligned", op, p);
    if (ldm * elem % 16 != 0) emu::fault("wmma::%s: ldm %u is not a multiple of 16 bytes", op, ldm);
}
} // namespace detail

template <typename Use, int M, int N, int K, typename T, typename L>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, float v) {
    unsigned bits;
    memcpy(&bits, &v, 4);
    if (emu::warp_op_begin(detail::kFill, nullptr, bits))
        for (float& x : f.v) x = v;
    emu::warp_op_end(detail::kFill);
}

// load_matrix_sync loads matrix_a (M x K) or matrix_b (K x N): element (i, j)
// of the tile is p[i*ldm + j] in row-major layout, p[j*ldm + i] in
// column-major.
template <typename Use, int M, int N, int K, typename L>
inline void load_matrix_sync(fragment<Use, M, N, K, __half, L>& f, const __half* p, unsigned ldm) {
    constexpr int op = __is_same(Use, matrix_a) ? detail::kLoadA : detail::kLoadB;
    if (emu::warp_op_begin(op, p, ldm)) {
        detail::check(p, ldm, 2, "load_matrix_sync");
        constexpr bool row = __is_same(L, row_major);
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) f.v[i * 16 + j] = __half2float(row ? p[i * ldm + j] : p[j * ldm + i]);
    }
    emu::warp_op_end(op);
}

template <int M, int N, int K, typename LA, typename LB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, __half, LA>& a,
                     const fragment<matrix_b, M, N, K, __half, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
    // Each lane's fragments live on its own stack: only the operation is
    // compared across lanes.
    if (emu::warp_op_begin(detail::kMma, nullptr, 0)) {
        float out[16 * 16];
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 16; n++) {
                float s = c.v[m * 16 + n];
                for (int k = 0; k < 16; k++) s += a.v[m * 16 + k] * b.v[k * 16 + n];
                out[m * 16 + n] = s;
            }
        memcpy(d.v, out, sizeof out);
    }
    emu::warp_op_end(detail::kMma);
}

template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t l) {
    if (emu::warp_op_begin(detail::kStore + 8 * l, p, ldm)) {
        detail::check(p, ldm, 4, "store_matrix_sync");
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 16; c++) {
                float* dst = l == mem_row_major ? &p[r * ldm + c] : &p[c * ldm + r];
                *dst = f.v[r * 16 + c];
            }
    }
    emu::warp_op_end(detail::kStore + 8 * l);
}

} // namespace wmma
} // namespace nvcuda
