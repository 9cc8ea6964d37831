// emu_cuda.h: what nvcc gives a .cu file implicitly (qualifiers, vector
// types, thread indices, __syncthreads, warp shuffles, device math), for
// compiling cudakern/kernels.cu with g++ into the CPU emulator of
// libcuda.so.1 (see ../README.md). Force-included with -include.
//
// Each CUDA thread of a block runs as a fiber on one worker OS thread;
// __syncthreads and warp shuffles are cooperative barriers. Thread indices
// and __shared__ variables are thread_local to the worker, which runs one
// block at a time, so every fiber of a block sees the same shared memory.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ thread_local

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
};
struct __attribute__((aligned(8))) float2 {
    float x, y;
};
struct __attribute__((aligned(16))) float4 {
    float x, y, z, w;
};
struct __attribute__((aligned(16))) uint4 {
    unsigned x, y, z, w;
};

namespace emu {
extern thread_local uint3 tl_threadIdx, tl_blockIdx;
extern thread_local dim3 tl_blockDim, tl_gridDim;

// sync_block is __syncthreads at source line `site`: it returns once every
// thread of the block waits at the same __syncthreads. A thread that has
// exited, or waits at another one, is a fault.
void sync_block(int site);
// shfl_xor exchanges v across the 32 lanes of the calling warp, all of
// which must be at the same call (site) with a full mask.
float shfl_xor_float(unsigned mask, float v, int lane_mask, int site);
template <typename T> inline T shfl_xor(unsigned mask, T v, int lane_mask, int site) {
    static_assert(__is_same(T, float), "the emulator's __shfl_xor_sync exchanges float only");
    return shfl_xor_float(mask, v, lane_mask, site);
}
// warp_op_begin starts a warp-collective wmma operation: every lane of the
// warp must call it with the same op, address and ldm, or the launch
// faults. It returns true in lane 0, which performs the operation for the
// warp; warp_op_end then waits for it.
bool warp_op_begin(int op, const void* p, unsigned long ldm);
void warp_op_end(int op);
// fault stops the launch with a message (a misuse a GPU would fault on or
// compute garbage from). It does not return.
[[noreturn]] void fault(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
} // namespace emu

#define threadIdx (emu::tl_threadIdx)
#define blockIdx (emu::tl_blockIdx)
#define blockDim (emu::tl_blockDim)
#define gridDim (emu::tl_gridDim)

#define __syncthreads() emu::sync_block(__LINE__)
#define __shfl_xor_sync(mask, v, lane_mask) emu::shfl_xor((mask), (v), (lane_mask), __LINE__)

// The CUDA versions are approximate (rsqrtf) or may be contracted to FMA
// by nvcc; these are IEEE, so results differ in the last bits.
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }

// __ldg is a read-only load; a misaligned vector load faults on a GPU.
template <typename T> inline T __ldg(const T* p) {
    if ((uintptr_t)p % alignof(T) != 0) emu::fault("__ldg: address %p not aligned to %zu bytes", (const void*)p, alignof(T));
    return *p;
}
