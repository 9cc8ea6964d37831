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

.PHONY: help test vet bench compare fixtures fuzz

include cudakern/Makefile.inc

help:
	@echo "make test              vet, gofmt check and the race-enabled test suite"
	@echo "make bench             benchmark the bundled model on the CPU: $(OUT)/bench_infer.{json,md}"
	@echo "make compare BASE=REF  BenchmarkGenerate at REF and at the work tree (-count 10), then benchstat"
	@echo "                       (COMPARE_BENCH=REGEXP for other benchmarks, COMPARE_COUNT=N)"
	@echo "make fixtures          regenerate the PyTorch fixtures in testdata/models (needs python3-torch)"
	@echo "make fuzz FUZZTIME=10m run every fuzz target"
	@echo "make ptx               compile cudakern/*.cu to committed PTX (needs nvcc)"
	@echo "make gpu-bundle        build the cuda-tagged test binaries + fixtures + run.sh into gpu-bundle/"
	@echo "make cuda-emu-test     run the cuda-tagged tests on the CPU emulator of libcuda (needs cuda.h)"
	@echo "make cuda-emu-mutants  check that seeded kernel bugs make those tests fail"
	@echo "make gpu-bundle-dryrun run the GPU bundle on the emulator (small sizes)"

test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race ./...

vet:
	$(GO) vet ./...

# The main job: BenchmarkGenerate on the bundled model, three timed
# generations (one per result line), turned into upstream's report.
bench:
	@mkdir -p $(OUT) && rm -f $(OUT)/vram.json
	$(GO) test -run '^$$' -bench '^BenchmarkGenerate$$' -benchtime 1x -count $(COUNT) -json $(BENCH_PKG) > $(OUT)/bench.jsonl
	$(GO) run ./tools/benchreport -in $(OUT)/bench.jsonl $$([ -f $(OUT)/vram.json ] && echo -vram $(OUT)/vram.json) \
		-json-out $(OUT)/bench_infer.json -md-out $(OUT)/bench_infer.md

# benchstat over BASE and the work tree, each run -count 10.
compare:
	@command -v benchstat >/dev/null || $(GO) install golang.org/x/perf/cmd/benchstat@latest
	@rm -rf $(OUT)/base-tree && mkdir -p $(OUT)
	git worktree add --detach $(OUT)/base-tree $(BASE)
	cd $(OUT)/base-tree && $(GO) test -run '^$$' -bench '$(COMPARE_BENCH)' -count $(COMPARE_COUNT) $(BENCH_PKG) > ../base.txt; \
		status=$$?; cd - >/dev/null; git worktree remove --force $(OUT)/base-tree; exit $$status
	$(GO) test -run '^$$' -bench '$(COMPARE_BENCH)' -count $(COMPARE_COUNT) $(BENCH_PKG) > $(OUT)/head.txt
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" benchstat -ignore tokbench-commit,timestamp base=$(OUT)/base.txt head=$(OUT)/head.txt

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
	./weights/hub:FuzzCachePaths \
	./weights/hub:FuzzHubAnswers \
	./gpt:FuzzConfigJSON \
	./gpt:FuzzLoadExport \
	./gpt/tokenizer:FuzzCharRoundTrip \
	./gpt/tokenizer:FuzzCharDecode \
	./gpt/tokenizer:FuzzBPERoundTrip \
	./gpt/tokenizer:FuzzBPEDecode \
	./tools/benchreport:FuzzMakeReport \
	./tools/benchreport:FuzzVRAMSidecar \
	./benchmarks:FuzzVRAMRecord

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $(GO) test -run '^$$' -fuzz '^$$name$$' -fuzztime $(FUZZTIME) $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done
