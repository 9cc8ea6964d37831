// cuda_fp16.h for the CPU emulator: __half and __half2 with the
// conversions kernels.cu uses. Conversions go through GCC's _Float16,
// which rounds to nearest even like __float2half_rn.
#pragma once

#include <string.h>

struct __align__(2) __half {
    unsigned short x;
};
struct __align__(4) __half2 {
    __half x, y;
};

inline __half __float2half_rn(float f) {
    _Float16 h = (_Float16)f;
    __half r;
    memcpy(&r.x, &h, 2);
    return r;
}

inline float __half2float(__half h) {
    _Float16 v;
    memcpy(&v, &h.x, 2);
    return (float)v;
}

inline float2 __half22float2(__half2 h) { return float2{__half2float(h.x), __half2float(h.y)}; }
