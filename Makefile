# tokbench: common tasks. `make help` lists them.
GO        ?= go
BENCH_PKG := ./benchmarks
OUT       := outputs
COUNT     ?= 3
BASE      ?= HEAD~1
FUZZTIME  ?= 10s
COMPARE_BENCH ?= ^BenchmarkGenerate$$
COMPARE_COUNT ?= 10
PYTHON    ?= /usr/bin/python3
# make compare fails when a significant slowdown exceeds this (empty: never)
MAX_REGRESSION ?= 5%

# A bare `make` prints the targets (not the first rule of an included file).
.DEFAULT_GOAL := help

.PHONY: help install test vet bench compare compare-gate table fixtures fuzz

include cudakern/Makefile.inc

help:
	@echo "make install           go install the tools (benchinfer, benchreport, generate, hubserve) with their commit"
	@echo "make test              vet, gofmt check and the race-enabled test suite"
	@echo "make bench             benchmark the bundled model on the CPU: $(OUT)/bench_infer.{json,md}"
	@echo "make compare BASE=REF  BenchmarkGenerate at REF and at the work tree (-count 10), then benchstat;"
	@echo "                       fails on a significant slowdown over MAX_REGRESSION (default 5%; empty: never)"
	@echo "                       (COMPARE_BENCH=REGEXP for other benchmarks, COMPARE_COUNT=N); chart: $(OUT)/compare.svg"
	@echo "make compare-gate COMPARE_BASE=F1 COMPARE_HEAD=F2  the same table and gate on two saved go test outputs"
	@echo "make table             community tables of README.md and docs/fr/benchmarks.md from docs/results/*.json"
	@echo "make fixtures          regenerate the PyTorch fixtures in testdata/models (needs python3-torch)"
	@echo "make fuzz FUZZTIME=10m run every fuzz target"
	@echo "make ptx               compile cudakern/*.cu to committed PTX (needs nvcc)"
	@echo "make gpu-bundle        build the cuda-tagged test binaries + fixtures + run.sh into gpu-bundle/"
	@echo "make cuda-emu-test     run the cuda-tagged tests on the CPU emulator of libcuda (needs cuda.h)"
	@echo "make cuda-emu-mutants  check that seeded kernel bugs make those tests fail"
	@echo "make gpu-bundle-dryrun run the GPU bundle on the emulator (small sizes)"

# The tools into $(go env GOBIN) (default ~/go/bin), each recording the
# commit it was built from (-buildvcs=true overrides a GOFLAGS that turns
# VCS stamping off): the report's "commit" and `--version` name it.
install:
	$(GO) install -buildvcs=true ./tools/benchinfer ./tools/benchreport ./tools/generate ./tools/hubserve

test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race ./...

vet:
	$(GO) vet ./...

# The main job: BenchmarkGenerate on the bundled model, three timed
# generations (one per result line), turned into upstream's report.
# Each run has its own temporary go test output and VRAM sidecar, so two
# `make bench` at once do not mix their outputs; benchreport replaces the
# reports atomically. The run's output is kept as $(OUT)/bench.jsonl.
bench:
	@mkdir -p $(OUT) && run=$$(cd "$$(mktemp -d $(OUT)/.bench-run.XXXXXX)" && pwd) && \
	trap 'rm -rf "$$run"' EXIT && trap 'exit 130' INT && trap 'exit 143' TERM && \
	echo "$(GO) test -run '^$$' -bench '^BenchmarkGenerate$$' -benchtime 1x -count $(COUNT) -json $(BENCH_PKG) > $(OUT)/bench.jsonl" && \
	BENCH_VRAM_OUT=$$run/vram.json $(GO) test -run '^$$' -bench '^BenchmarkGenerate$$' -benchtime 1x -count $(COUNT) -json $(BENCH_PKG) > $$run/bench.jsonl && \
	$(GO) run ./tools/benchreport -in $$run/bench.jsonl $$([ -f $$run/vram.json ] && echo -vram $$run/vram.json) \
		-json-out $(OUT)/bench_infer.json -md-out $(OUT)/bench_infer.md && \
	mv -f $$run/bench.jsonl $(OUT)/bench.jsonl && { [ ! -f $$run/vram.json ] || mv -f $$run/vram.json $(OUT)/vram.json; }

# benchstat over BASE and the work tree, each run -count 10, then the
# gate. BASE is checked out in a temporary git worktree that is removed on
# any exit (failure, Ctrl-C) and pruned if an earlier run was killed.
compare:
	@command -v benchstat >/dev/null || PATH="$$PATH:$$($(GO) env GOPATH)/bin" command -v benchstat >/dev/null || \
		$(GO) install golang.org/x/perf/cmd/benchstat@latest
	@mkdir -p $(OUT) && git worktree prune && tree=$$(mktemp -d "$${TMPDIR:-/tmp}/tokbench-base.XXXXXX") && \
	trap 'git worktree remove --force "$$tree" 2>/dev/null; rm -rf "$$tree"; git worktree prune' EXIT && \
	trap 'exit 130' INT && trap 'exit 143' TERM && \
	echo "git worktree add --detach $$tree $(BASE)" && git worktree add --detach "$$tree" $(BASE) && \
	echo "(in $$tree) $(GO) test -run '^$$' -bench '$(COMPARE_BENCH)' -count $(COMPARE_COUNT) $(BENCH_PKG) > $(OUT)/base.txt" && \
	(cd "$$tree" && $(GO) test -run '^$$' -bench '$(COMPARE_BENCH)' -count $(COMPARE_COUNT) $(BENCH_PKG)) > $(OUT)/base.txt
	$(GO) test -run '^$$' -bench '$(COMPARE_BENCH)' -count $(COMPARE_COUNT) $(BENCH_PKG) > $(OUT)/head.txt
	@if grep -q ' tokens/s' $(OUT)/head.txt; then \
		echo "$(GO) run ./tools/benchreport -compare -svg $(OUT)/compare.svg $(OUT)/base.txt $(OUT)/head.txt"; \
		$(GO) run ./tools/benchreport -compare -svg $(OUT)/compare.svg $(OUT)/base.txt $(OUT)/head.txt; fi
	@$(MAKE) --no-print-directory compare-gate COMPARE_BASE=$(OUT)/base.txt COMPARE_HEAD=$(OUT)/head.txt

# benchstat of COMPARE_BASE vs COMPARE_HEAD; exits 1 when a difference
# benchstat finds significant (p < 0.05; `~` otherwise) is a slowdown over
# MAX_REGRESSION: sec/op up, or a tokens/s metric down, by more than it.
COMPARE_BASE ?= $(OUT)/base.txt
COMPARE_HEAD ?= $(OUT)/head.txt
compare-gate:
	@export PATH="$$PATH:$$($(GO) env GOPATH)/bin"; \
	max=$$(echo "$(MAX_REGRESSION)" | sed 's/%$$//'); \
	case "$(MAX_REGRESSION):$$max" in :) ;; *:|*:*[!0-9.]*) echo "make compare: MAX_REGRESSION=$(MAX_REGRESSION): want a percentage such as 5%, or empty for no gate"; exit 2;; esac; \
	benchstat -ignore tokbench-commit,timestamp base=$(COMPARE_BASE) head=$(COMPARE_HEAD) || exit 1; \
	[ -n "$$max" ] || exit 0; \
	benchstat -format csv -ignore tokbench-commit,timestamp base=$(COMPARE_BASE) head=$(COMPARE_HEAD) | \
	awk -F, -v max="$$max" ' \
		$$1 == "" && $$6 == "vs base" { unit = $$2; next } \
		$$1 == "" || $$1 == "geomean" || $$6 !~ /^[+-][0-9.]+%$$/ { next } \
		{ d = $$6; sub(/%/, "", d); d += 0 } \
		unit == "sec/op" && d > max + 0 { printf "make compare: %s: sec/op %s (p<0.05) is a slowdown over MAX_REGRESSION=%s%%\n", $$1, $$6, max; bad = 1 } \
		unit ~ /tokens\/s$$/ && -d > max + 0 { printf "make compare: %s: %s %s (p<0.05) is a slowdown over MAX_REGRESSION=%s%%\n", $$1, unit, $$6, max; bad = 1 } \
		END { exit bad }'

# The community tables of README.md (English header) and
# docs/fr/benchmarks.md (French) from the report files in docs/results,
# written between the community-results marker lines of each.
RESULTS_BEGIN := <!-- community-results: generated by make table from docs/results/*.json -->
RESULTS_END   := <!-- end community-results -->
table:
	@set -e; for doc in README.md:en docs/fr/benchmarks.md:fr; do \
		file=$${doc%%:*}; lang=$${doc##*:}; \
		grep -qxF '$(RESULTS_BEGIN)' $$file && grep -qxF '$(RESULTS_END)' $$file || \
			{ echo "make table: $$file lacks the marker lines"; exit 1; }; \
		$(GO) run ./tools/benchreport -merge -lang $$lang docs/results/*.json > $$file.table.tmp || \
			{ rm -f $$file.table.tmp; exit 1; }; \
		awk -v b='$(RESULTS_BEGIN)' -v e='$(RESULTS_END)' -v t=$$file.table.tmp \
			'$$0 == b { print; while ((getline l < t) > 0) print l; skip = 1; next } $$0 == e { skip = 0 } !skip' \
			$$file > $$file.tmp && mv $$file.tmp $$file && rm -f $$file.table.tmp; \
		echo "make table: $$file"; \
	done

fixtures:
	$(PYTHON) testdata/gen/make_fixtures.py

# Every fuzz target, one after another, each for FUZZTIME (CI: 5s; a real
# pass: FUZZTIME=10m). Keep this list in step with the Fuzz* functions.
FUZZ_TARGETS := \
	./weights:FuzzUnpickle \
	./weights:FuzzLoadCheckpoint \
	./weights:FuzzCheckpointPickle \
	./weights:FuzzSafetensors \
	./weights:FuzzLoadMeta \
	./weights:FuzzTokenizerSpec \
	./weights:FuzzLoadConfig \
	./weights:FuzzDictKeys \
	./weights:FuzzTOMLNullLines \
	./weights:FuzzSafetensorsHeader \
	./weights/hub:FuzzCachePaths \
	./weights/hub:FuzzHubAnswers \
	./gpt:FuzzConfigJSON \
	./gpt:FuzzLoadExport \
	./gpt/tokenizer:FuzzCharRoundTrip \
	./gpt/tokenizer:FuzzCharDecode \
	./gpt/tokenizer:FuzzBPERoundTrip \
	./gpt/tokenizer:FuzzBPEDecode \
	./gpt/tokenizer:FuzzBPEMatchesTiktokenGo \
	./tools/benchreport:FuzzMakeReport \
	./benchmarks/report:FuzzDecode \
	./tools/benchreport:FuzzVRAMSidecar \
	./benchmarks:FuzzVRAMRecord

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $(GO) test -run '^$$' -fuzz '^$$name$$' -fuzztime $(FUZZTIME) $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done
