#!/usr/bin/env python3
"""Mutation check of the emulator and the cuda-tagged tests.

Each mutant below is a bug a CUDA kernel plausibly has: a missing barrier,
a barrier not every thread reaches, a shuffle after lanes exited, an
out-of-bounds row, a misaligned vector load, a wrong wmma stride. For each,
this builds the emulator (libcuda.so.1) from an altered copy of kernels.cu
and runs the named tests of the cudakern test binary against it: they must
FAIL. A mutant that passes means the emulator or the tests miss that class
of bug, and this script exits 1.

Usage (from the repository root; `make cuda-emu-mutants` runs it):
    python3 cudakern/emu/mutants.py [BUILD_DIR]
"""
import os
import shlex
import subprocess
import sys
import tempfile

MUTANTS = [
    ("matvec: no barrier after staging the input vector",
     "sx[i] = xh ? __half2float(xh[i]) : xf[i];\n    __syncthreads();",
     "sx[i] = xh ? __half2float(xh[i]) : xf[i];", "TestMatvec"),
    ("matvec: rows past N not skipped (reads past W)",
     "    if (row >= N) return;\n", "", "TestMatvec"),
    ("matvec: a barrier only thread 0 reaches",
     "    if (row >= N) return;", "    if (threadIdx.x == 0) __syncthreads();\n    if (row >= N) return;",
     "TestMatvec"),
    ("matvec: warp reduction after a lane exits",
     "    acc = warp_sum(acc);", "    if (lane == 31) return;\n    acc = warp_sum(acc);", "TestMatvec"),
    ("block_sum: red[] overwritten before every warp has read it (first barrier removed)",
     "    v = warp_sum(v);\n    __syncthreads();\n    if (lane == 0) red[w] = v;",
     "    v = warp_sum(v);\n    if (lane == 0) red[w] = v;", "TestLayerNorm"),
    ("matmul_tc: only lane 0 stores the accumulator tile",
     "            wmma::store_matrix_sync(&Cs[", "            if ((tid & 31) == 0) wmma::store_matrix_sync(&Cs[",
     "TestMatmul"),
    ("matmul_tc: wmma stride off by one",
     "load_matrix_sync(a[i], &As[(wm * 32 + i * 16) * LDS + kk], LDS);",
     "load_matrix_sync(a[i], &As[(wm * 32 + i * 16) * LDS + kk], LDS + 1);", "TestMatmul"),
    ("matmul_tc: 16-byte loads without the K%8 check (misaligned)",
     "if (row < rows && (K & 7) == 0 && k + 8 <= K) {", "if (row < rows && k + 8 <= K) {", "TestMatmul"),
    ("matmul_tc: no barrier before the epilogue reads Cs",
     "                                    wmma::mem_row_major);\n    __syncthreads();",
     "                                    wmma::mem_row_major);", "TestMatmul"),
    ("attention: softmax sums read before the barrier that publishes them",
     "    sum = block_sum(sum, red); // its barriers also publish ss",
     "    sum = warp_sum(sum);", "TestAttentionPrefill"),
    ("attention: decode attends one key too few",
     "i64 n = causal ? t + 1 : nkeys;", "i64 n = causal ? t + 1 : nkeys - 1;", "TestAttentionDecode"),
    ("attention: partial sums written past the dynamic shared memory",
     "            part[tid] = acc;", "            part[tid + 8] = acc;", "TestAttentionPrefill"),
    ("rope_store: cos/sin of the wrong position",
     "i64 hh = hd / 2, pos = pos0 + t;", "i64 hh = hd / 2, pos = pos0;", "TestRopeStore"),
]


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


# What a caught mutant's output shows: an emulator fault, a UBSan report, a
# crash, or a failed test. Anything else (a missing file, a symbol lookup
# error) is a broken setup, not a catch.
SIGNS = ("cudaemu:", "runtime error:", "killed by signal", "--- FAIL")


def build_lib(cxx, flags, kernels, out):
    r = run([cxx, *flags, "-shared", "-Wl,-soname,libcuda.so.1", "-Icudakern/emu/include", "-include",
             "emu_cuda.h", f'-DCUDAEMU_KERNELS="{kernels}"', "-o", out, "cudakern/emu/libcuda.cc", "-lpthread"])
    return r.returncode == 0, r.stdout


def run_tests(test_bin, libdir, tests):
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    try:
        r = run([test_bin, "-test.run", f"^({tests})$", "-test.count", "1"], env=env, cwd="cudakern", timeout=600)
        return r.returncode, r.stdout
    except subprocess.TimeoutExpired:
        return -1, "timed out"


def main():
    root = os.getcwd()
    src = open(os.path.join(root, "cudakern/kernels.cu")).read()
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="cudaemu-mutants-"))
    os.makedirs(build, exist_ok=True)
    cxx = os.environ.get("CXX") or "g++"
    flags = shlex.split(os.environ.get("CUDAEMU_CXXFLAGS") or "-std=c++17 -O2 -fPIC -fvisibility=hidden "
                        "-fno-strict-aliasing -fsanitize=alignment -fno-sanitize-recover=alignment")
    test_bin = os.path.join(build, "cudakern.test")
    r = run([os.environ.get("GO", "go"), "test", "-c", "-tags", "cuda", "-o", test_bin, "./cudakern"])
    if r.returncode:
        sys.exit("building the cuda-tagged test binary failed:\n" + r.stdout)

    # Control: the unaltered source must pass every test the mutants use.
    base = os.path.join(build, "base")
    os.makedirs(base, exist_ok=True)
    ok, out = build_lib(cxx, flags, os.path.join(root, "cudakern/kernels.cu"), os.path.join(base, "libcuda.so.1"))
    if not ok:
        sys.exit("the emulator does not build:\n" + out)
    all_tests = "|".join(sorted({m[3] for m in MUTANTS}))
    rc, out = run_tests(test_bin, base, all_tests)
    if rc != 0:
        sys.exit(f"control run failed: the unaltered kernels fail {all_tests}:\n{out[-3000:]}")
    print(f"control   unaltered kernels.cu passes {all_tests}")

    survivors = 0
    for i, (desc, old, new, tests) in enumerate(MUTANTS):
        if src.count(old) != 1:
            sys.exit(f"mutant {desc!r}: its text occurs {src.count(old)} times in kernels.cu; update mutants.py")
        d = os.path.join(build, f"m{i}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "kernels.cu"), "w") as f:
            f.write(src.replace(old, new))
        ok, out = build_lib(cxx, flags, os.path.join(d, "kernels.cu"), os.path.join(d, "libcuda.so.1"))
        if not ok:
            sys.exit(f"mutant {desc!r} does not compile:\n{out}")
        rc, out = run_tests(test_bin, d, tests)
        if rc < -1:  # killed by a signal without the emulator's message
            out += f"\nkilled by signal {-rc}"
        lines = [l.strip() for l in out.splitlines() if any(s in l for s in SIGNS) or "timed out" in l]
        caught = rc != 0 and bool(lines)
        if rc != 0 and not lines:
            sys.exit(f"mutant {desc!r}: the tests failed without a fault or a failed test; broken setup?\n{out[-2000:]}")
        print(f"{'caught ' if caught else 'SURVIVED'}  {desc}  ({tests})")
        for l in lines[:2]:
            print("          " + l)
        survivors += not caught
    if survivors:
        sys.exit(f"{survivors} mutant(s) survived")
    print(f"all {len(MUTANTS)} mutants caught")


if __name__ == "__main__":
    main()
