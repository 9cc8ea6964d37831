// libcuda.cc: a CPU emulator of the part of the CUDA driver API that
// gorgonia.org/cu and cudakern use, built as libcuda.so.1, with the kernels
// of ../kernels.cu compiled in by g++. It lets the cuda-tagged tests run the
// real Go backend and the real kernel source on a machine without a GPU
// (`make cuda-emu-test`; ../README.md says what it proves and what not).
//
// Kernels: each block runs on a worker OS thread, each CUDA thread of the
// block as a fiber on its own guarded stack. The scheduler runs one warp at
// a time up to its next __syncthreads (or its end), passing its warp
// barriers (shuffles, wmma operations) on the way, then the next warp; the
// order of warps, and of lanes within a warp, flips at every barrier. So a
// thread that reads another's write without the barrier that orders them
// tends to read the wrong value. Misuse a GPU would fault on or give
// garbage for stops the launch with a message on stderr and
// CUDA_ERROR_LAUNCH_FAILED (sticky, as on a GPU): threads waiting at
// different __syncthreads, or at one after others exited; a shuffle or
// wmma operation not every lane of the warp reaches with the same
// arguments; misaligned __ldg or wmma pointers and strides; a write past
// the dynamic shared memory the launch asked for, or just past (or before)
// an allocation. Misaligned vector loads are caught by UBSan
// (-fsanitize=alignment), which aborts the process. Launches over the PTX's
// .maxntid or 48 KiB of shared memory are refused (CUDA_ERROR_INVALID_VALUE),
// as the driver does.
//
// Memory: device memory is host memory between PROT_NONE guard pages,
// filled with 0xff bytes (NaN as fp16 and fp32) since cuMemAlloc gives no
// zeroes, and so are the up to 255 slack bytes after it and the 256 bytes
// before it, which are checked after every launch. Dynamic shared memory
// starts as 0xff bytes at every block. Static __shared__ variables keep the
// previous block's values, as on a GPU they hold whatever was there.
//
// Context: the current context is per OS thread, as in the driver; calls
// that need one fail with CUDA_ERROR_INVALID_CONTEXT without it.
//
// Module: cuModuleLoadData reads the PTX's entries (name, parameter count,
// .maxntid, static .shared bytes) and refuses any entry that the
// compiled-in kernels lack or whose parameter count differs.

#include <cuda.h>
#include <signal.h>
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

template <typename... A> static constexpr int kernel_arity(void (*)(A...)) { return sizeof...(A); }

template <typename... A, size_t... I> static void call(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<A*>(p[I])...);
}

// KERNEL(f) is f's table entry: its launcher unpacks the 8-byte parameters
// into f's C++ signature.
#define KERNEL(f)                                                                                     \
    Kernel {                                                                                          \
        #f, kernel_arity(f), [](void** p) { call(f, p, std::make_index_sequence<kernel_arity(f)>{}); } \
    }

static const Kernel kKernels[] = {
    KERNEL(embed),         KERNEL(layernorm),  KERNEL(matvec),    KERNEL(matmul_tc),
    KERNEL(matmul_simple), KERNEL(rope_store), KERNEL(attention),
};

// ---- fibers --------------------------------------------------------------

// emu_switch saves the callee-saved registers on the current stack, stores
// the stack pointer in *from and resumes the fiber whose stack pointer is
// to. (It has no CFI or endbr64, and would break CET shadow stacks, which
// this library does not enable.)
extern "C" void emu_switch(void** from, void* to);
asm(R"(
    .pushsection .text
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
    .popsection
)");

static constexpr size_t kStack = 128 << 10;
static const size_t kPage = (size_t)sysconf(_SC_PAGESIZE);

enum State {
    kReady,      // runnable
    kAtBarrier,  // waiting at __syncthreads
    kAtWarpSync, // waiting at a warp-collective operation (shuffle, wmma)
    kDone,       // returned from the kernel
};

struct Fiber {
    void* sp = nullptr;
    char* stack = nullptr; // kStack usable bytes above a guard page
    uint3 tid{};
    int lane = 0, warp = 0;
    State state = kDone;
    int site = 0; // what it waits at: a __syncthreads/shuffle source line, or -(wmma op)
};

struct Launch {
    const Kernel* k;
    dim3 grid, block;
    size_t smem; // dynamic shared memory bytes
    void** params;
};

// WarpOp is what a lane brought to a warp-collective wmma operation.
struct WarpOp {
    int op;
    const void* p;
    unsigned long ldm;
};

// Worker runs blocks of a launch, one at a time, on its OS thread.
struct Worker {
    std::vector<Fiber> fibers;
    void* sched_sp = nullptr;
    Fiber* cur = nullptr;
    const Launch* launch = nullptr;
    float xchg[32][32];   // shuffle values: [warp][lane]
    WarpOp ops[32][32];   // wmma arguments: [warp][lane]
    std::string err;      // the first fault of the current block
    size_t smemUsed = 0;  // dynamic shared memory bytes of the last block
};

// worker is the Worker of this OS thread (fibers never change threads).
static thread_local Worker* worker;

[[noreturn]] static void stop_fiber();

// fiber_main is where every fiber starts: one CUDA thread of the kernel.
static void fiber_main() {
    worker->launch->k->run(worker->launch->params);
    stop_fiber();
}

static void fiber_start(Fiber& f) {
    if (!f.stack) {
        char* m = (char*)mmap(nullptr, kStack + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            perror("cudaemu: fiber stack");
            abort();
        }
        mprotect(m, kPage, PROT_NONE); // a stack overflow crashes
        f.stack = m + kPage;
    }
    // Frame popped by emu_switch: six registers, then the return address
    // fiber_main; above it a slot standing for fiber_main's own return
    // address, so that at its entry rsp+8 is 16-byte aligned.
    uintptr_t top = ((uintptr_t)f.stack + kStack) & ~(uintptr_t)15;
    void** sp = (void**)top;
    *--sp = nullptr;            // fiber_main's return address (never used)
    *--sp = (void*)&fiber_main; // popped by ret
    for (int i = 0; i < 6; i++) *--sp = nullptr;
    f.sp = sp;
    f.state = kReady;
    f.site = 0;
}

// stop_fiber ends the calling fiber; it is never resumed.
[[noreturn]] static void stop_fiber() {
    Worker* w = worker;
    w->cur->state = kDone;
    emu_switch(&w->cur->sp, w->sched_sp);
    abort();
}

void fault(const char* fmt, ...) {
    Worker* w = worker;
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

// wait parks the calling fiber in state s at site until the scheduler
// releases it.
static void wait(State s, int site) {
    Worker* w = worker;
    w->cur->state = s;
    w->cur->site = site;
    emu_switch(&w->cur->sp, w->sched_sp);
}

void sync_block(int site) { wait(kAtBarrier, site); }

float shfl_xor_float(unsigned mask, float v, int lane_mask, int site) {
    Worker* w = worker;
    if (mask != 0xffffffffu) fault("__shfl_xor_sync: mask %#x; the emulator supports full warps only", mask);
    if (lane_mask < 0 || lane_mask > 31) fault("__shfl_xor_sync: lane mask %d outside 0..31", lane_mask);
    Fiber* f = w->cur;
    w->xchg[f->warp][f->lane] = v;
    wait(kAtWarpSync, site); // every lane has written
    float r = w->xchg[f->warp][f->lane ^ lane_mask];
    wait(kAtWarpSync, site); // every lane has read
    return r;
}

bool warp_op_begin(int op, const void* p, unsigned long ldm) {
    Worker* w = worker;
    Fiber* f = w->cur;
    w->ops[f->warp][f->lane] = WarpOp{op, p, ldm};
    wait(kAtWarpSync, -op);
    const WarpOp& a = w->ops[f->warp][0];
    if (a.p != p || a.ldm != ldm)
        fault("wmma operation %d: lane %d passes (%p, %lu), lane 0 (%p, %lu)", op, f->lane, p, ldm, a.p, a.ldm);
    return f->lane == 0;
}

void warp_op_end(int op) { wait(kAtWarpSync, -op); }

static void resume(Worker* w, Fiber& f) {
    w->cur = &f;
    tl_threadIdx = f.tid;
    emu_switch(&w->sched_sp, f.sp);
}

// ---- blocks --------------------------------------------------------------

// Block is the scheduling state of one block on a worker.
struct Block {
    Worker* w;
    const Launch& L;
    uint3 bid;
    size_t n;

    bool failed() const { return !w->err.empty(); }

    void fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
        char buf[300];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        char where[120];
        snprintf(where, sizeof where, "%s block (%u,%u,%u): ", L.k->name, bid.x, bid.y, bid.z);
        if (w->err.empty()) w->err = std::string(where) + buf;
    }

    // run_warp runs the lanes of warp wi, releasing its warp barriers, until
    // each has exited or waits at __syncthreads.
    void run_warp(size_t wi, bool forward) {
        size_t lo = wi * 32, hi = std::min(n, lo + 32);
        for (;;) {
            for (size_t j = lo; j < hi; j++) {
                Fiber& f = w->fibers[forward ? j : lo + hi - 1 - j];
                if (f.state == kReady) resume(w, f);
                if (failed()) return;
            }
            size_t waiting = 0, exited = 0, atBarrier = 0;
            int site = 0;
            for (size_t i = lo; i < hi; i++) {
                const Fiber& f = w->fibers[i];
                if (f.state == kAtWarpSync) {
                    if (waiting++ == 0) site = f.site;
                    if (f.site != site) {
                        fail("warp %zu: lanes wait at different warp operations (%s %d and %d)", wi,
                             site < 0 ? "wmma op" : "line", site, f.site);
                        return;
                    }
                }
                exited += f.state == kDone;
                atBarrier += f.state == kAtBarrier;
            }
            if (waiting == 0) return;
            if (hi - lo < 32 || waiting < 32) {
                fail("warp %zu: a warp operation (%s %d) reached by %zu of 32 lanes (%zu exited, %zu at __syncthreads, "
                     "%zu do not exist)",
                     wi, site < 0 ? "wmma op" : "line", site < 0 ? -site : site, waiting, exited, atBarrier,
                     32 - (hi - lo));
                return;
            }
            for (size_t i = lo; i < hi; i++) w->fibers[i].state = kReady;
        }
    }

    // release_barrier lets every thread past the __syncthreads they all wait
    // at; it reports false when all have exited, or on a fault.
    bool release_barrier() {
        size_t done = 0, atBarrier = 0;
        int site = 0;
        for (size_t i = 0; i < n; i++) {
            const Fiber& f = w->fibers[i];
            done += f.state == kDone;
            if (f.state == kAtBarrier) {
                if (atBarrier++ == 0) site = f.site;
                if (f.site != site) {
                    fail("threads wait at different __syncthreads (lines %d and %d)", site, f.site);
                    return false;
                }
            }
        }
        if (done == n) return false;
        if (done > 0) {
            fail("__syncthreads at line %d reached after %zu of %zu threads exited", site, done, n);
            return false;
        }
        for (size_t i = 0; i < n; i++) w->fibers[i].state = kReady;
        return true;
    }

    // overrun reports whether a thread wrote dynamic shared memory past the
    // bytes the launch asked for (the 4 KiB after them are checked).
    bool overrun() {
        const unsigned char* dyn = (const unsigned char*)smem4;
        for (size_t i = L.smem; i < std::min(kMaxShared, L.smem + 4096); i++)
            if (dyn[i] != 0xff) {
                fail("wrote dynamic shared memory byte %zu, past the %zu bytes launched with", i, L.smem);
                memset((void*)dyn, 0xff, kMaxShared);
                return true;
            }
        return false;
    }

    // run runs every thread of the block to completion; it returns false
    // with w->err set when the block faulted.
    bool run() {
        tl_blockIdx = bid;
        tl_blockDim = L.block;
        tl_gridDim = L.grid;
        if (w->fibers.size() < n) w->fibers.resize(n);
        for (size_t i = 0; i < n; i++) {
            Fiber& f = w->fibers[i];
            f.tid = uint3{(unsigned)(i % L.block.x), (unsigned)(i / L.block.x % L.block.y),
                          (unsigned)(i / ((size_t)L.block.x * L.block.y))};
            f.lane = (int)(i % 32);
            f.warp = (int)(i / 32);
            fiber_start(f);
        }
        // Dynamic shared memory is undefined at a block's start on a GPU:
        // 0xff bytes here, also over what the worker's previous block used.
        memset(smem4, 0xff, std::max(L.smem, w->smemUsed));
        w->smemUsed = L.smem;
        size_t nwarps = (n + 31) / 32;
        for (int phase = 0;; phase++) {
            bool forward = phase % 2 == 0;
            for (size_t j = 0; j < nwarps; j++) {
                run_warp(forward ? j : nwarps - 1 - j, forward);
                if (failed()) return false;
            }
            if (!release_barrier()) return !failed() && !overrun();
        }
    }
};

// ---- memory --------------------------------------------------------------

static constexpr size_t kRedZone = 256; // checked bytes before an allocation

// Alloc is one cuMemAlloc: a mapping of guard page, body, guard page, with
// the allocation at the end of the body (256-byte aligned) and 0xff bytes
// around it.
struct Alloc {
    char* map;
    size_t mapLen;
    char* body;
    size_t size;
};
static std::mutex memMu;
static std::map<uintptr_t, Alloc> allocs; // by device address

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// inside reports whether [p, p+n) lies in one allocation.
static bool inside(uintptr_t p, size_t n) {
    if (p + n < p) return false;
    std::lock_guard<std::mutex> lk(memMu);
    auto it = allocs.upper_bound(p);
    if (it == allocs.begin()) return false;
    --it;
    return p >= it->first && p + n <= it->first + it->second.size;
}

// red_zone_fault describes a byte changed around an allocation, or "".
static std::string red_zone_fault() {
    std::lock_guard<std::mutex> lk(memMu);
    for (const auto& [addr, a] : allocs) {
        const unsigned char* d = (const unsigned char*)addr;
        const unsigned char* lo = std::max((const unsigned char*)a.body, d - kRedZone);
        const unsigned char* hi = d + round_up(a.size, 256);
        for (const unsigned char* p = lo; p < hi; p++) {
            if (p == d) p += a.size;
            if (p < hi && *p != 0xff) {
                char buf[200];
                bool before = p < d;
                snprintf(buf, sizeof buf, "wrote %td bytes %s the allocation at %p of %zu bytes",
                         before ? d - p : p - (d + a.size) + 1, before ? "before" : "past the end of", (const void*)d,
                         a.size);
                return buf;
            }
        }
    }
    return "";
}

// ---- crashes --------------------------------------------------------------

// A kernel that touches a guard page (past an allocation, or overflowing a
// fiber stack) gets SIGSEGV on a worker thread. The handler says which
// kernel and thread, then exits; on any other thread it hands the signal to
// the handler it replaced (the Go runtime's, which turns nil dereferences
// in Go code into panics).
static struct sigaction prevSegv, prevBus;

static void on_fault(int sig, siginfo_t* info, void* uc) {
    Worker* w = worker;
    if (w && w->launch && w->cur) {
        char buf[300];
        int n = snprintf(buf, sizeof buf,
                         "cudaemu: kernel fault: %s block (%u,%u,%u) thread (%u,%u,%u): %s at address %p (past an "
                         "allocation's guard page, or a fiber stack overflow)\n",
                         w->launch->k->name, tl_blockIdx.x, tl_blockIdx.y, tl_blockIdx.z, tl_threadIdx.x,
                         tl_threadIdx.y, tl_threadIdx.z, sig == SIGSEGV ? "SIGSEGV" : "SIGBUS", info->si_addr);
        if (write(2, buf, (size_t)std::max(n, 0)) < 0) {
        }
        _exit(70);
    }
    const struct sigaction& prev = sig == SIGSEGV ? prevSegv : prevBus;
    if (prev.sa_flags & SA_SIGINFO) {
        prev.sa_sigaction(sig, info, uc);
    } else if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
        signal(sig, SIG_DFL);
        raise(sig);
    } else {
        prev.sa_handler(sig);
    }
}

static void install_fault_handler() {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prevSegv);
    sigaction(SIGBUS, &sa, &prevBus);
}

// ---- worker pool ---------------------------------------------------------

struct Pool {
    std::mutex launchMu; // one launch at a time, as on one stream
    std::mutex mu;       // guards job, gen, total, running and err
    std::condition_variable cv, doneCv;
    const Launch* job = nullptr;
    uint64_t gen = 0;
    std::atomic<uint64_t> next{0}; // next block to run
    uint64_t total = 0;
    int running = 0;
    std::string err;
    std::vector<std::thread> threads;

    void start(int n) {
        for (int i = 0; i < n; i++) threads.emplace_back([this] { loop(); });
    }

    void loop() {
        // The fault handler runs here on its own stack: a fiber that
        // overflowed its stack has none left.
        stack_t alt{};
        alt.ss_size = 64 << 10;
        alt.ss_sp = malloc(alt.ss_size);
        sigaltstack(&alt, nullptr);
        Worker w;
        worker = &w;
        memset(smem4, 0xff, kMaxShared);
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
            uint64_t gx = L->grid.x, gy = L->grid.y, nthreads = (uint64_t)L->block.x * L->block.y * L->block.z;
            for (uint64_t b; (b = next.fetch_add(1)) < total;) {
                uint3 bid{(unsigned)(b % gx), (unsigned)(b / gx % gy), (unsigned)(b / (gx * gy))};
                if (!Block{&w, *L, bid, nthreads}.run()) {
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
        install_fault_handler();
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
    size_t staticSmem; // bytes of the .shared arrays declared in the entry
};

struct Module {
    std::map<std::string, Entry> entries;
};

// parse_ptx reads the .entry directives of a PTX text: each entry's
// parameter list, and between it and the next entry its .maxntid and its
// .shared arrays (nvcc declares __shared__ variables as .b8 arrays). It
// returns "" or what is wrong.
static std::string parse_ptx(const char* ptx, Module* m) {
    std::string s(ptx);
    static const std::regex entry(R"(\.entry\s+([A-Za-z_$][\w$]*)\s*\(([^)]*)\))");
    static const std::regex param(R"(\.param\b)");
    static const std::regex maxntid(R"(\.maxntid\s+(\d+)\s*,\s*(\d+)\s*,\s*(\d+))");
    static const std::regex shared(R"(\.shared\s+\.align\s+\d+\s+\.b8\s+[\w$]+\[(\d+)\])");
    std::vector<std::smatch> found;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), entry); it != std::sregex_iterator(); ++it)
        found.push_back(*it);
    if (found.empty()) return "no .entry in the image";
    for (size_t i = 0; i < found.size(); i++) {
        std::string name = found[i][1], params = found[i][2];
        size_t from = found[i].position() + found[i].length();
        size_t to = i + 1 < found.size() ? (size_t)found[i + 1].position() : s.size();
        std::string body = s.substr(from, to - from);
        int arity = (int)std::distance(std::sregex_iterator(params.begin(), params.end(), param), std::sregex_iterator());
        const Kernel* k = nullptr;
        for (const Kernel& c : kKernels)
            if (name == c.name) k = &c;
        if (!k) return "PTX entry " + name + " is not among the emulator's kernels";
        if (k->arity != arity)
            return "PTX entry " + name + " has " + std::to_string(arity) + " parameters, kernels.cu's " +
                   std::to_string(k->arity);
        Entry e{k, 1024, 0};
        std::string directives = body.substr(0, body.find('{'));
        std::smatch nm;
        if (std::regex_search(directives, nm, maxntid))
            e.maxThreads = std::stoi(nm[1]) * std::stoi(nm[2]) * std::stoi(nm[3]);
        for (auto it = std::sregex_iterator(body.begin(), body.end(), shared); it != std::sregex_iterator(); ++it)
            e.staticSmem += std::stoul((*it)[1]);
        m->entries[name] = e;
    }
    return "";
}

static std::atomic<CUresult> sticky{CUDA_SUCCESS};
static int ctxToken;
static thread_local CUcontext current; // cuCtxSetCurrent's, per OS thread

// ready is the check before a call that needs a context: the sticky error
// of a failed launch, then a current context.
static CUresult ready() {
    if (sticky.load() != CUDA_SUCCESS) return sticky.load();
    return current ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

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

CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice d) {
    if (!c) return CUDA_ERROR_INVALID_VALUE;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    *c = (CUcontext)&ctxToken;
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext c) {
    if (c && c != (CUcontext)&ctxToken) return CUDA_ERROR_INVALID_CONTEXT;
    current = c;
    return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) { return ready(); }

CUresult cuModuleLoadDataEx(CUmodule* mod, const void* image, unsigned int n, CUjit_option* opts, void** vals) {
    if (CUresult r = ready()) return r;
    if (!mod || !image || (n && (!opts || !vals))) return CUDA_ERROR_INVALID_VALUE;
    Module* m = new Module;
    std::string err = parse_ptx((const char*)image, m);
    if (err.empty()) {
        *mod = (CUmodule)m;
        return CUDA_SUCCESS;
    }
    delete m;
    fprintf(stderr, "cudaemu: cuModuleLoadData: %s\n", err.c_str());
    char* log = nullptr;
    size_t size = 0;
    for (unsigned i = 0; i < n; i++) {
        if (opts[i] == CU_JIT_ERROR_LOG_BUFFER) log = (char*)vals[i];
        if (opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) size = (size_t)(uintptr_t)vals[i];
    }
    if (log && size) snprintf(log, size, "cudaemu: %s", err.c_str());
    return CUDA_ERROR_INVALID_IMAGE;
}

CUresult cuModuleLoadData(CUmodule* mod, const void* image) { return cuModuleLoadDataEx(mod, image, 0, nullptr, nullptr); }

CUresult cuModuleGetFunction(CUfunction* f, CUmodule mod, const char* name) {
    if (CUresult r = ready()) return r;
    if (!f || !mod || !name) return CUDA_ERROR_INVALID_VALUE;
    Module* m = (Module*)mod;
    auto it = m->entries.find(name);
    if (it == m->entries.end()) return CUDA_ERROR_NOT_FOUND;
    *f = (CUfunction)&it->second;
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned smem, CUstream, void** params, void** extra) {
    if (CUresult r = ready()) return r;
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
    if (err.empty()) {
        std::string red = red_zone_fault();
        if (!red.empty()) err = std::string(e->k->name) + ": " + red;
    }
    if (!err.empty()) {
        fprintf(stderr, "cudaemu: kernel fault: %s\n", err.c_str());
        sticky.store(CUDA_ERROR_LAUNCH_FAILED);
        return CUDA_ERROR_LAUNCH_FAILED;
    }
    return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
    if (CUresult r = ready()) return r;
    if (!p || n == 0) return CUDA_ERROR_INVALID_VALUE;
    size_t body = round_up(n + kRedZone, kPage), len = body + 2 * kPage;
    char* m = (char*)mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    mprotect(m, kPage, PROT_NONE);
    mprotect(m + kPage + body, kPage, PROT_NONE);
    // 256-byte aligned like cuMemAlloc, ending as near the guard page as
    // that allows.
    char* d = m + kPage + body - round_up(n, 256);
    memset(d - kRedZone, 0xff, round_up(n, 256) + kRedZone);
    std::lock_guard<std::mutex> lk(memMu);
    allocs[(uintptr_t)d] = Alloc{m, len, m + kPage, n};
    *p = (CUdeviceptr)(uintptr_t)d;
    return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
    if (CUresult r = ready()) return r;
    std::lock_guard<std::mutex> lk(memMu);
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end()) return CUDA_ERROR_INVALID_VALUE;
    munmap(it->second.map, it->second.mapLen);
    allocs.erase(it);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    if (CUresult r = ready()) return r;
    if (!inside((uintptr_t)dst, n) || (!src && n)) return CUDA_ERROR_INVALID_VALUE;
    memcpy((void*)(uintptr_t)dst, src, n);
    return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    if (CUresult r = ready()) return r;
    if (!inside((uintptr_t)src, n) || (!dst && n)) return CUDA_ERROR_INVALID_VALUE;
    memcpy(dst, (const void*)(uintptr_t)src, n);
    return CUDA_SUCCESS;
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
    if (CUresult r = ready()) return r;
    if (!inside((uintptr_t)dst, n)) return CUDA_ERROR_INVALID_VALUE;
    memset((void*)(uintptr_t)dst, v, n);
    return CUDA_SUCCESS;
}

} // extern "C"
#pragma GCC visibility pop
