// libcuda.cc: a CPU emulator of the part of the CUDA driver API that
// gorgonia.org/cu and cudakern use, built as libcuda.so.1, with the kernels
// of ../kernels.cu compiled in by g++. It lets the cuda-tagged tests run the
// real Go backend and the real kernel source on a machine without a GPU
// (`make cuda-emu-test`; ../README.md says what it proves and what not).
//
// Kernels: each block runs on a worker OS thread, each CUDA thread of the
// block as a fiber on its own guarded stack. __syncthreads and warp shuffles
// switch fibers cooperatively; the order fibers run in alternates between
// barrier phases, so a read of another thread's write that lacks a barrier
// tends to see the wrong value. Misuse a GPU would fault on (a barrier not
// all threads reach, a full-mask shuffle after lanes exited, misaligned
// vector or wmma accesses, launches over the PTX's limits) stops the launch
// with a message on stderr and CUDA_ERROR_LAUNCH_FAILED.
//
// Memory: device memory is host memory. Each allocation ends at a
// PROT_NONE page (reading past it crashes the process) and starts filled
// with 0xff bytes (NaN as fp16 and fp32), as cuMemAlloc gives no zeroes.
//
// Module: cuModuleLoadData reads the PTX's entries (name, parameter
// count, .maxntid, static .shared bytes) and refuses any entry that the
// compiled-in kernels lack or whose parameter count differs.

#include <cuda.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// Dynamic shared memory: kernels.cu declares `extern __shared__ float4
// smem4[]`; it is per worker thread like the static __shared__ variables.
static constexpr size_t kMaxShared = 48 << 10;
extern "C" {
thread_local __attribute__((aligned(16))) float4 smem4[kMaxShared / sizeof(float4)];
}

// CUDAEMU_KERNELS names the kernel source; mutants.py builds altered
// copies to check that the tests catch them.
#ifndef CUDAEMU_KERNELS
#define CUDAEMU_KERNELS "../kernels.cu"
#endif
#include CUDAEMU_KERNELS

namespace emu {

thread_local uint3 tl_threadIdx, tl_blockIdx;
thread_local dim3 tl_blockDim, tl_gridDim;

// ---- kernels compiled in -------------------------------------------------

struct Kernel {
    const char* name;
    int arity;
    void (*run)(void** params);
};

template <typename... A, size_t... I> static void call(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<A*>(p[I])...);
}

// Each kernel's launcher unpacks the 8-byte parameters into its C++
// signature.
#define KERNEL(f)                                                                                     \
    Kernel {                                                                                          \
        #f, kernel_arity(f), [](void** p) { call(f, p, std::make_index_sequence<kernel_arity(f)>{}); } \
    }
template <typename... A> static constexpr int kernel_arity(void (*)(A...)) { return sizeof...(A); }

static const Kernel kKernels[] = {
    KERNEL(embed),      KERNEL(layernorm),  KERNEL(matvec),    KERNEL(matmul_tc),
    KERNEL(matmul_simple), KERNEL(rope_store), KERNEL(attention),
};

// ---- fibers --------------------------------------------------------------

// emu_switch saves the callee-saved registers on the current stack, stores
// the stack pointer in *from and resumes the fiber whose stack pointer is to.
extern "C" void emu_switch(void** from, void* to);
asm(R"(
    .text
    .globl emu_switch
    .hidden emu_switch
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
)");

static constexpr size_t kStack = 128 << 10;
static const size_t kPage = (size_t)sysconf(_SC_PAGESIZE);

enum State { kReady, kAtBarrier, kAtWarp, kDone };

struct Fiber {
    void* sp = nullptr;
    char* stack = nullptr; // kStack usable bytes above a guard page
    uint3 tid{};
    int lane = 0, warp = 0;
    State state = kDone;
};

struct Launch {
    const Kernel* k;
    dim3 grid, block;
    size_t smem; // dynamic shared memory bytes
    void** params;
};

// Worker runs blocks of a launch, one at a time, on its OS thread.
struct Worker {
    std::vector<Fiber> fibers;
    void* sched_sp = nullptr;
    Fiber* cur = nullptr;
    const Launch* launch = nullptr;
    float xchg[32][32]; // shuffle exchange: [warp][lane]
    std::string err;    // set by fault
};
static thread_local Worker* tw;

[[noreturn]] static void stop_fiber();

// fiber_main is where every fiber starts: one CUDA thread of the kernel.
static void fiber_main() {
    tw->launch->k->run(tw->launch->params);
    stop_fiber();
}

static void fiber_start(Fiber& f) {
    if (!f.stack) {
        char* m = (char*)mmap(nullptr, kStack + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            perror("cudaemu: fiber stack");
            abort();
        }
        mprotect(m, kPage, PROT_NONE); // stack overflow faults
        f.stack = m + kPage;
    }
    // Frame popped by emu_switch: six registers, then the return address
    // fiber_main; above it a slot standing for fiber_main's own return
    // address, so that at its entry rsp+8 is 16-byte aligned.
    uintptr_t top = ((uintptr_t)f.stack + kStack) & ~(uintptr_t)15;
    void** sp = (void**)top;
    *--sp = nullptr;             // fiber_main's return address (never used)
    *--sp = (void*)&fiber_main;  // popped by ret
    for (int i = 0; i < 6; i++) *--sp = nullptr;
    f.sp = sp;
    f.state = kReady;
}

// stop_fiber ends the calling fiber; it is never resumed.
[[noreturn]] static void stop_fiber() {
    Worker* w = tw;
    w->cur->state = kDone;
    emu_switch(&w->cur->sp, w->sched_sp);
    abort();
}

void fault(const char* fmt, ...) {
    Worker* w = tw;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (w->err.empty()) {
        char where[160];
        snprintf(where, sizeof where, "%s block (%u,%u,%u) thread (%u,%u,%u): ", w->launch->k->name, tl_blockIdx.x,
                 tl_blockIdx.y, tl_blockIdx.z, tl_threadIdx.x, tl_threadIdx.y, tl_threadIdx.z);
        w->err = std::string(where) + buf;
    }
    stop_fiber();
}

static void yield(State s) {
    Worker* w = tw;
    w->cur->state = s;
    emu_switch(&w->cur->sp, w->sched_sp);
}

void sync_block() { yield(kAtBarrier); }

bool lane0() { return tw->cur->lane == 0; }

float shfl_xor(unsigned mask, float v, int lane_mask) {
    Worker* w = tw;
    if (mask != 0xffffffffu) fault("__shfl_xor_sync: mask %#x; the emulator supports full warps only", mask);
    Fiber* f = w->cur;
    int src = f->lane ^ (lane_mask & 31);
    w->xchg[f->warp][f->lane] = v;
    yield(kAtWarp); // every lane has written
    float r = w->xchg[f->warp][src];
    yield(kAtWarp); // every lane has read
    return r;
}

static void resume(Worker* w, Fiber& f) {
    w->cur = &f;
    tl_threadIdx = f.tid;
    emu_switch(&w->sched_sp, f.sp);
}

// run_block runs every thread of block bid to completion; it returns false
// with w->err set when the block faulted or deadlocked.
static bool run_block(Worker* w, const Launch& L, uint3 bid) {
    tl_blockIdx = bid;
    tl_blockDim = L.block;
    tl_gridDim = L.grid;
    size_t n = (size_t)L.block.x * L.block.y * L.block.z;
    if (w->fibers.size() < n) w->fibers.resize(n);
    for (size_t i = 0; i < n; i++) {
        Fiber& f = w->fibers[i];
        f.tid = uint3{(unsigned)(i % L.block.x), (unsigned)(i / L.block.x % L.block.y),
                      (unsigned)(i / ((size_t)L.block.x * L.block.y))};
        f.lane = (int)(i % 32);
        f.warp = (int)(i / 32);
        fiber_start(f);
    }
    // Dynamic shared memory starts as NaN bytes (a GPU leaves it
    // undefined); the bytes past what the launch asked for must stay so.
    unsigned char* dyn = (unsigned char*)smem4;
    memset(dyn, 0xff, kMaxShared);
    auto overrun = [&]() {
        for (size_t i = L.smem; i < kMaxShared; i++)
            if (dyn[i] != 0xff) {
                char buf[200];
                snprintf(buf, sizeof buf, "%s block (%u,%u,%u): wrote dynamic shared memory byte %zu, past the %zu bytes launched with",
                         L.k->name, bid.x, bid.y, bid.z, i, L.smem);
                w->err = buf;
                return true;
            }
        return false;
    };
    size_t nwarps = (n + 31) / 32;
    for (int phase = 0;; phase++) {
        // Run every ready fiber until it blocks or ends, forwards in even
        // phases and backwards in odd ones.
        for (size_t j = 0; j < n; j++) {
            Fiber& f = w->fibers[phase % 2 ? n - 1 - j : j];
            if (f.state == kReady) resume(w, f);
            if (!w->err.empty()) return false;
        }
        bool released = false;
        size_t done = 0, atBarrier = 0;
        for (size_t wi = 0; wi < nwarps; wi++) {
            size_t lo = wi * 32, hi = std::min(n, lo + 32), waiting = 0, exited = 0;
            for (size_t i = lo; i < hi; i++) {
                waiting += w->fibers[i].state == kAtWarp;
                exited += w->fibers[i].state == kDone;
            }
            if (waiting > 0 && (hi - lo < 32 || exited > 0)) {
                char buf[200];
                snprintf(buf, sizeof buf,
                         "%s block (%u,%u,%u): warp %zu shuffles with %zu of its 32 lanes (the others exited or do not "
                         "exist)",
                         L.k->name, bid.x, bid.y, bid.z, wi, waiting);
                w->err = buf;
                return false;
            }
            if (waiting == hi - lo) {
                for (size_t i = lo; i < hi; i++) w->fibers[i].state = kReady;
                released = true;
            }
        }
        if (released) continue;
        for (size_t i = 0; i < n; i++) {
            done += w->fibers[i].state == kDone;
            atBarrier += w->fibers[i].state == kAtBarrier;
        }
        if (done == n) return !overrun();
        if (done + atBarrier == n) {
            for (size_t i = 0; i < n; i++)
                if (w->fibers[i].state == kAtBarrier) w->fibers[i].state = kReady;
            continue;
        }
        char buf[200];
        snprintf(buf, sizeof buf,
                 "%s block (%u,%u,%u): deadlock: %zu threads wait at __syncthreads while %zu wait at a warp shuffle",
                 L.k->name, bid.x, bid.y, bid.z, atBarrier, n - done - atBarrier);
        w->err = buf;
        return false;
    }
}

// ---- worker pool ---------------------------------------------------------

struct Pool {
    std::mutex launchMu, mu;
    std::condition_variable cv, doneCv;
    const Launch* job = nullptr;
    uint64_t gen = 0;
    std::atomic<uint64_t> next{0};
    uint64_t total = 0;
    int running = 0;
    std::string err;
    std::vector<std::thread> threads;

    void start(int n) {
        for (int i = 0; i < n; i++) threads.emplace_back([this] { loop(); });
    }

    void loop() {
        Worker w;
        tw = &w;
        uint64_t seen = 0;
        for (;;) {
            const Launch* L;
            {
                std::unique_lock<std::mutex> lk(mu);
                cv.wait(lk, [&] { return gen != seen; });
                seen = gen;
                L = job;
            }
            w.launch = L;
            uint64_t gx = L->grid.x, gy = L->grid.y;
            for (uint64_t b; (b = next.fetch_add(1)) < total;) {
                uint3 bid{(unsigned)(b % gx), (unsigned)(b / gx % gy), (unsigned)(b / (gx * gy))};
                if (!run_block(&w, *L, bid)) {
                    next.store(total);
                    std::lock_guard<std::mutex> lk(mu);
                    if (err.empty()) err = w.err;
                    w.err.clear();
                    break;
                }
            }
            std::lock_guard<std::mutex> lk(mu);
            if (--running == 0) doneCv.notify_all();
        }
    }

    // run executes every block of L and returns the first fault, or "".
    // Launches from several host threads run one after another, as on one
    // stream.
    std::string run(const Launch& L) {
        std::lock_guard<std::mutex> one(launchMu);
        std::unique_lock<std::mutex> lk(mu);
        job = &L;
        total = (uint64_t)L.grid.x * L.grid.y * L.grid.z;
        next.store(0);
        err.clear();
        running = (int)threads.size();
        gen++;
        cv.notify_all();
        doneCv.wait(lk, [&] { return running == 0; });
        return err;
    }
};

static Pool* pool() {
    static Pool* p = [] {
        Pool* p = new Pool;
        int n = (int)std::thread::hardware_concurrency();
        if (const char* s = getenv("CUDAEMU_THREADS")) n = atoi(s);
        p->start(n < 1 ? 1 : n);
        return p;
    }();
    return p;
}

// ---- module --------------------------------------------------------------

struct Entry {
    const Kernel* k;
    int maxThreads;    // .maxntid product, 1024 without one
    size_t staticSmem; // bytes of .shared declared in the entry
};

struct Module {
    std::map<std::string, Entry> entries;
};

// parse_ptx reads the .entry directives of a PTX text: each entry's
// parameter list, and between it and the next entry its .maxntid and its
// .shared declarations.
static CUresult parse_ptx(const char* ptx, Module* m) {
    std::string s(ptx);
    static const std::regex entry(R"(\.entry\s+([A-Za-z_$][\w$]*)\s*\(([^)]*)\))");
    static const std::regex param(R"(\.param\b)");
    static const std::regex maxntid(R"(\.maxntid\s+(\d+)\s*,\s*(\d+)\s*,\s*(\d+))");
    static const std::regex shared(R"(\.shared\s+\.align\s+\d+\s+\.b8\s+[\w$]+\[(\d+)\])");
    std::vector<std::smatch> found;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), entry); it != std::sregex_iterator(); ++it)
        found.push_back(*it);
    if (found.empty()) {
        fprintf(stderr, "cudaemu: cuModuleLoadData: no .entry in the image\n");
        return CUDA_ERROR_INVALID_IMAGE;
    }
    for (size_t i = 0; i < found.size(); i++) {
        std::string name = found[i][1], params = found[i][2];
        size_t from = found[i].position() + found[i].length();
        size_t to = i + 1 < found.size() ? (size_t)found[i + 1].position() : s.size();
        std::string body = s.substr(from, to - from);
        int arity = (int)std::distance(std::sregex_iterator(params.begin(), params.end(), param), std::sregex_iterator());
        const Kernel* k = nullptr;
        for (const Kernel& c : kKernels)
            if (name == c.name) k = &c;
        if (!k) {
            fprintf(stderr, "cudaemu: PTX entry %s is not among the emulator's kernels\n", name.c_str());
            return CUDA_ERROR_INVALID_IMAGE;
        }
        if (k->arity != arity) {
            fprintf(stderr, "cudaemu: PTX entry %s has %d parameters, kernels.cu's %d\n", name.c_str(), arity, k->arity);
            return CUDA_ERROR_INVALID_IMAGE;
        }
        Entry e{k, 1024, 0};
        std::string directives = body.substr(0, body.find('{'));
        std::smatch nm;
        if (std::regex_search(directives, nm, maxntid)) e.maxThreads = std::stoi(nm[1]) * std::stoi(nm[2]) * std::stoi(nm[3]);
        for (auto it = std::sregex_iterator(body.begin(), body.end(), shared); it != std::sregex_iterator(); ++it)
            e.staticSmem += std::stoul((*it)[1]);
        m->entries[name] = e;
    }
    return CUDA_SUCCESS;
}

// ---- memory --------------------------------------------------------------

struct Alloc {
    char* map;
    size_t mapLen, size;
};
static std::mutex memMu;
static std::map<uintptr_t, Alloc> allocs; // by device address

static uintptr_t round_up(uintptr_t n, uintptr_t m) { return (n + m - 1) / m * m; }

// inside reports whether [p, p+n) lies in one allocation.
static bool inside(uintptr_t p, size_t n) {
    std::lock_guard<std::mutex> lk(memMu);
    auto it = allocs.upper_bound(p);
    if (it == allocs.begin()) return false;
    --it;
    return p >= it->first && p + n <= it->first + it->second.size && p + n >= p;
}

static std::atomic<CUresult> sticky{CUDA_SUCCESS};

} // namespace emu

using namespace emu;

// The driver API is all the library exports (it is built with
// -fvisibility=hidden).
#pragma GCC visibility push(default)
extern "C" {

CUresult cuInit(unsigned int flags) { return flags == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }

CUresult cuDriverGetVersion(int* v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    *v = CUDA_VERSION;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* n) {
    if (!n) return CUDA_ERROR_INVALID_VALUE;
    *n = 1;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* d, int ordinal) {
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *d = 0;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(name, (size_t)len, "cudaemu (CPU emulator, not a GPU)");
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice d) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 8; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = (int)kMaxShared; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; break;
    default: return CUDA_ERROR_NOT_SUPPORTED;
    }
    return CUDA_SUCCESS;
}

static int ctxToken;

CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice d) {
    if (!c) return CUDA_ERROR_INVALID_VALUE;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    *c = (CUcontext)&ctxToken;
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext c) { return c == (CUcontext)&ctxToken || !c ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT; }

CUresult cuCtxSynchronize(void) { return sticky.load(); }

CUresult cuModuleLoadData(CUmodule* mod, const void* image) {
    if (!mod || !image) return CUDA_ERROR_INVALID_VALUE;
    Module* m = new Module;
    CUresult r = parse_ptx((const char*)image, m);
    if (r != CUDA_SUCCESS) {
        delete m;
        return r;
    }
    *mod = (CUmodule)m;
    return CUDA_SUCCESS;
}

CUresult cuModuleLoadDataEx(CUmodule* mod, const void* image, unsigned int, CUjit_option*, void**) {
    return cuModuleLoadData(mod, image);
}

CUresult cuModuleGetFunction(CUfunction* f, CUmodule mod, const char* name) {
    if (!f || !mod || !name) return CUDA_ERROR_INVALID_VALUE;
    Module* m = (Module*)mod;
    auto it = m->entries.find(name);
    if (it == m->entries.end()) return CUDA_ERROR_NOT_FOUND;
    *f = (CUfunction)&it->second;
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned smem, CUstream, void** params, void** extra) {
    if (sticky.load() != CUDA_SUCCESS) return sticky.load();
    if (!f || extra || (!params && ((Entry*)f)->k->arity > 0)) return CUDA_ERROR_INVALID_VALUE;
    const Entry* e = (const Entry*)f;
    unsigned long threads = (unsigned long)bx * by * bz;
    if (gx == 0 || gy == 0 || gz == 0 || gx > 0x7fffffffu || gy > 65535 || gz > 65535 || bx == 0 || by == 0 ||
        bz == 0 || bx > 1024 || by > 1024 || bz > 64 || threads > 1024) {
        fprintf(stderr, "cudaemu: %s: invalid launch grid (%u,%u,%u) block (%u,%u,%u)\n", e->k->name, gx, gy, gz, bx, by,
                bz);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (threads > (unsigned long)e->maxThreads) {
        fprintf(stderr, "cudaemu: %s: %lu threads per block, over its .maxntid %d\n", e->k->name, threads,
                e->maxThreads);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (smem + e->staticSmem > kMaxShared) {
        fprintf(stderr, "cudaemu: %s: %u bytes of dynamic + %zu of static shared memory, over %zu\n", e->k->name, smem,
                e->staticSmem, kMaxShared);
        return CUDA_ERROR_INVALID_VALUE;
    }
    Launch L{e->k, dim3{gx, gy, gz}, dim3{bx, by, bz}, smem, params};
    std::string err = pool()->run(L);
    if (!err.empty()) {
        fprintf(stderr, "cudaemu: kernel fault: %s\n", err.c_str());
        sticky.store(CUDA_ERROR_LAUNCH_FAILED);
        return CUDA_ERROR_LAUNCH_FAILED;
    }
    return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
    if (!p || n == 0) return CUDA_ERROR_INVALID_VALUE;
    size_t body = round_up(n, kPage), len = body + kPage;
    char* m = (char*)mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    mprotect(m + body, kPage, PROT_NONE);
    // 256-byte aligned like cuMemAlloc, ending as near the guard page as
    // that allows.
    char* d = m + body - round_up(n, 256);
    memset(d, 0xff, n);
    std::lock_guard<std::mutex> lk(memMu);
    allocs[(uintptr_t)d] = Alloc{m, len, n};
    *p = (CUdeviceptr)(uintptr_t)d;
    return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
    std::lock_guard<std::mutex> lk(memMu);
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end()) return CUDA_ERROR_INVALID_VALUE;
    munmap(it->second.map, it->second.mapLen);
    allocs.erase(it);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    if (!inside((uintptr_t)dst, n) || (!src && n)) return CUDA_ERROR_INVALID_VALUE;
    memcpy((void*)(uintptr_t)dst, src, n);
    return sticky.load();
}

CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    if (!inside((uintptr_t)src, n) || (!dst && n)) return CUDA_ERROR_INVALID_VALUE;
    memcpy(dst, (const void*)(uintptr_t)src, n);
    return sticky.load();
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
    if (!inside((uintptr_t)dst, n)) return CUDA_ERROR_INVALID_VALUE;
    memset((void*)(uintptr_t)dst, v, n);
    return sticky.load();
}

} // extern "C"
#pragma GCC visibility pop
