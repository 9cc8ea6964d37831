#!/bin/sh
# gpubundle.sh OUTDIR: build the cuda-tagged test binaries and gather them,
# with the fixtures they read, pyref.py and run.sh, into OUTDIR (make
# gpu-bundle). Run from the module root. The result runs on a GPU machine
# without Go or network: OUTDIR/run.sh [RESULTS_DIR].
set -eu
OUT=${1:-gpu-bundle}
GO=${GO:-go}
[ -f go.mod ] && grep -q 'module github.com/labcoreai/tokbench' go.mod || { echo "gpubundle.sh: run from the tokbench module root" >&2; exit 2; }
[ -f /usr/include/cuda.h ] || [ -f /usr/local/cuda/include/cuda.h ] || {
	echo "gpubundle.sh: cuda.h not found: run ../shared/tools/install-cuda-toolchain.sh first" >&2; exit 2; }
rm -rf "$OUT"
mkdir -p "$OUT/cudakern" "$OUT/benchmarks" "$OUT/testdata/models/configs"
$GO test -c -tags cuda -ldflags="-s -w" -o "$OUT/cudakern/cudakern.test" ./cudakern
$GO test -c -tags cuda -ldflags="-s -w" -o "$OUT/benchmarks/benchmarks.test" ./benchmarks
# TestPTXMatchesKernelTable and TestSourceMatchesKernelTable read these from
# the test's working directory.
cp cudakern/kernels.cu cudakern/kernels.ptx "$OUT/cudakern/"
for m in learned_bias rope_nobias fp16; do
	mkdir -p "$OUT/testdata/models/$m"
	cp testdata/models/$m/ckpt.pt testdata/models/$m/meta.json testdata/models/$m/ref.json "$OUT/testdata/models/$m/"
done
cp testdata/models/configs/*.toml "$OUT/testdata/models/configs/"
# GPT-2-small shape for BenchmarkGenerate's random source.
cat > "$OUT/testdata/models/configs/gpt2small.toml" <<'TOML'
# GPT-2-small shape (124M parameters) for BENCH_SOURCE=random.
[model]
n_layer = 12
n_head = 12
n_embd = 768
block_size = 1024
vocab_size = 50257
dropout = 0.0
bias = true
use_rope = false
use_flash = false

[generation]
temperature = 0.9
top_k = 40
top_p = 1.0
repetition_penalty = 1.0
use_kv_cache = true
TOML
# benchmarks.ModuleRoot looks for the module's go.mod above the binary.
cp go.mod "$OUT/go.mod"
git rev-parse HEAD > "$OUT/COMMIT" 2>/dev/null || echo unknown > "$OUT/COMMIT"
cp cudakern/gpubundle/pyref.py cudakern/gpubundle/summarize.py cudakern/gpubundle/run.sh "$OUT/"
chmod +x "$OUT/run.sh" "$OUT"/*/*.test
du -sh "$OUT"
echo "gpu-bundle: $OUT ready; on the GPU machine: $OUT/run.sh [RESULTS_DIR]"
