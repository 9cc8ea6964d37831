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

// sync_block is __syncthreads: it returns once every live thread of the
// block has reached it.
void sync_block();
// shfl_xor exchanges v across the lanes of the calling warp; all 32 lanes
// must take part (mask 0xffffffff), as the kernels assume.
float shfl_xor(unsigned mask, float v, int lane_mask);
// lane0 reports whether the calling thread is lane 0 of its warp (the lane
// that performs the warp-collective wmma operations).
bool lane0();
// fault stops the launch with a message (a misuse a GPU would fault on or
// compute garbage from). It does not return.
[[noreturn]] void fault(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
} // namespace emu

#define threadIdx (emu::tl_threadIdx)
#define blockIdx (emu::tl_blockIdx)
#define blockDim (emu::tl_blockDim)
#define gridDim (emu::tl_gridDim)

inline void __syncthreads() { emu::sync_block(); }
inline float __shfl_xor_sync(unsigned mask, float v, int lane_mask) { return emu::shfl_xor(mask, v, lane_mask); }

inline float rsqrtf(float x) { return 1.f / sqrtf(x); }

// __ldg is a read-only load; a misaligned vector load faults on a GPU.
template <typename T> inline T __ldg(const T* p) {
    if ((uintptr_t)p % alignof(T) != 0) emu::fault("__ldg: address %p not aligned to %zu bytes", (const void*)p, alignof(T));
    return *p;
}
