#!/bin/sh
# run.sh [RESULTS_DIR]: run tokbench's CUDA checks and benchmarks on this GPU
# machine, beside a PyTorch eager reference of the same models, print a
# summary and write it as RESULTS_DIR/summary.json (default: this folder).
# Logs of every step go to RESULTS_DIR too. Needs python3 with torch and
# numpy; no Go, no network.
set -u
B=$(cd "$(dirname "$0")" && pwd)
R=${1:-$B}
mkdir -p "$R"
R=$(cd "$R" && pwd)
cd "$B"
export BENCH_WARMUP_TOKENS=${BENCH_WARMUP_TOKENS:-64}
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nvidia-smi -L) > "$R/gpu.txt" 2>&1

echo "== 1/5 PyTorch eager reference (pyref.py)"
timeout 300 python3 pyref.py --fixture testdata/models/learned_bias/ckpt.pt --out "$R/pyref.json" > "$R/pyref.log" 2>&1
echo "rc=$?" >> "$R/pyref.log"; tail -4 "$R/pyref.log"

echo "== 2/5 cudakern tests (kernels, fixtures, allocator, PyTorch parity)"
(cd cudakern && TOKBENCH_PYREF="$R/pyref.json" timeout 420 ./cudakern.test -test.v -test.count=1 -test.timeout=7m) > "$R/cudakern-test.log" 2>&1
echo "rc=$?" >> "$R/cudakern-test.log"; tail -3 "$R/cudakern-test.log"

echo "== 3/5 cudakern BenchmarkDecode (fixture, base, gpt2)"
(cd cudakern && timeout 300 ./cudakern.test -test.run '^$' -test.bench '^BenchmarkDecode$' -test.benchtime 3x -test.count 1) > "$R/cudakern-bench.log" 2>&1
echo "rc=$?" >> "$R/cudakern-bench.log"; grep -E '^Benchmark' "$R/cudakern-bench.log"

echo "== 4/5 BenchmarkGenerate, bundled model: dev=cuda (fp16), then dev=cpu (fp32)"
(cd benchmarks && BENCH_DEVICE=cuda BENCH_DTYPE=fp16 BENCH_VRAM_OUT="$R/vram-local.json" timeout 300 ./benchmarks.test -test.run '^$' -test.bench '^BenchmarkGenerate$' -test.benchtime 1x -test.count 3) > "$R/benchgen-local.log" 2>&1
echo "rc=$?" >> "$R/benchgen-local.log"; grep -E '^(Benchmark|device-type)' "$R/benchgen-local.log"
(cd benchmarks && BENCH_DEVICE=cpu BENCH_VRAM_OUT="$R/vram-cpu.json" timeout 300 ./benchmarks.test -test.run '^$' -test.bench '^BenchmarkGenerate$' -test.benchtime 1x -test.count 3) > "$R/benchgen-cpu.log" 2>&1
echo "rc=$?" >> "$R/benchgen-cpu.log"; grep -E '^(Benchmark|device-type)' "$R/benchgen-cpu.log"

echo "== 5/5 BenchmarkGenerate, GPT-2-small-shaped random model, dev=cuda"
(cd benchmarks && BENCH_SOURCE=random BENCH_CONFIG=testdata/models/configs/gpt2small.toml BENCH_DEVICE=cuda BENCH_DTYPE=fp16 BENCH_VRAM_OUT="$R/vram-gpt2.json" timeout 300 ./benchmarks.test -test.run '^$' -test.bench '^BenchmarkGenerate$' -test.benchtime 1x -test.count 3) > "$R/benchgen-gpt2.log" 2>&1
echo "rc=$?" >> "$R/benchgen-gpt2.log"; grep -E '^(Benchmark|device-type)' "$R/benchgen-gpt2.log"

python3 summarize.py "$R"
