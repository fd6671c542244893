# pipeline: build, test, run, install, bench.
#
#   make run                  build, then run pipelines/demo.yaml on bundled data
#   make test                 every test (installs Debian packages and a Python test venv if missing)
#   make install PREFIX=DIR   binary, headers, pkg-config file, built-in plugins, docs, man page, Rust SDK
#   make rust-example         the Rust example plugin (sdk/rust), when cargo is on PATH
#   make bench                benchmarks (release build)
#   make bench-steps          non-LLM steps (filter, map, dedup, loaders, writers) on 1M rows beside load -> write, perf of the slowest
#   make bench-serve          serve: against the tiny random model: start to ready, textgen 40 x 3, DEITA N=20 k=2 (llama venv)
#   make chaos                kill -9 / resume test with 100 kills
#   make test-abi             ABI compatibility: plugins built against every released header, on this host and on a "next" host
#   make test-llama           structured_generation against llama-cpp-python serving a tiny random model (builds llama.cpp: ~8 min once)
#   make test-real            textgen, embeddings and DEITA against a tiny random model the host serves itself (serve:); not in make test
#   make fuzz                 libFuzzer + ASan targets of Tests/fuzz, one after the other, FUZZ_SECONDS each
#   make fuzz-coverage        line coverage of each fuzz target's parser files over its corpus
#
# Variables: CONFIG=debug|release, PREFIX=/usr/local, SWIFT=swift, CC=cc,
#            FUZZ_SECONDS=60, FUZZ_TARGETS="yaml jsonl csv npy score llm hub arrow parquet".

SWIFT    ?= swift
CC       ?= cc
CONFIG   ?= debug
PREFIX   ?= /usr/local
PYTHON   ?= python3

BIN        = .build/$(CONFIG)
PLUGIN_DIR = $(BIN)/pipeline-plugins
VENV       = .build/test-venv
ABI_INC    = Sources/CPipelineABI/include
C_FLAGS    = -std=c11 -O2 -g -Wall -Wextra -Werror -fPIC -fvisibility=hidden -I$(ABI_INC)
SYSTEM_PACKAGES = libcurl4-openssl-dev libyaml-dev libsqlite3-dev libsnappy-dev libzstd-dev pkg-config
C_PLUGINS  = text_filter deita_filter
SWIFT_PLUGINS = PipelineColumns PipelineData PipelineLLM PipelineHub PipelineFilter PipelineMap PipelineDedup PipelineQuality
# Installed in $(PREFIX)/share/doc/pipeline (relative links between them only).
DOCS       = docs/writing-plugins.md docs/pipelines.md docs/ARCHITECTURE.md docs/pushing-to-the-hub.md

.PHONY: all deps build plugins run test test-c test-abi test-llama test-real llama-venv test-install test-rust rust-example venv install uninstall bench bench-llm bench-adaptive bench-deita bench-deita-pipeline bench-serve bench-distill bench-dedup bench-steps bench-parquet bench-hub-load bench-tools chaos fuzz fuzz-coverage clean help

all: build plugins

help:
	@sed -n '1,/^$$/p' Makefile

# System libraries, installed with apt when missing (root, or sudo).
deps:
	@if ! pkg-config --exists libcurl yaml-0.1 sqlite3 snappy libzstd 2>/dev/null; then \
	  echo "Installing Debian packages: $(SYSTEM_PACKAGES)"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(SYSTEM_PACKAGES); \
	fi

build: deps
	$(SWIFT) build -c $(CONFIG) --product pipeline
	@# One product per invocation: SwiftPM builds only the last --product given.
	@for p in $(SWIFT_PLUGINS); do echo "$(SWIFT) build -c $(CONFIG) --product $$p"; $(SWIFT) build -c $(CONFIG) --product $$p || exit 1; done

# Every built-in plugin in one directory the binary searches by default.
plugins: build
	@mkdir -p $(PLUGIN_DIR)
	@for p in $(C_PLUGINS); do \
	  echo "cc Plugins/$$p/$$p.c -> $(PLUGIN_DIR)/lib$$p.so"; \
	  $(CC) $(C_FLAGS) -shared -o $(PLUGIN_DIR)/lib$$p.so Plugins/$$p/$$p.c -pthread -lm || exit 1; \
	done
	@for p in $(SWIFT_PLUGINS); do ln -sf ../lib$$p.so $(PLUGIN_DIR)/lib$$p.so; done

run: plugins
	$(SWIFT) build -c $(CONFIG) --product llm-test-server
	@echo "== plugins this host can load"
	@$(BIN)/pipeline plugins list
	@echo "== pipeline run pipelines/demo.yaml (no LLM)"
	@$(BIN)/pipeline run pipelines/demo.yaml --run-dir runs/demo --fresh
	@echo "== pipeline run pipelines/textgen.yaml, against the in-project LLM server"
	@Tests/tools/with-llm-server.sh $(BIN) --latency-ms 20 -- \
	  $(BIN)/pipeline run pipelines/textgen.yaml --run-dir runs/textgen --fresh --no-llm-cache
	@echo "== pipeline run pipelines/support-sft.yaml: 2 answers per support question, filtered, as SFT messages"
	@Tests/tools/with-llm-server.sh $(BIN) --latency-ms 20 -- \
	  $(BIN)/pipeline run pipelines/support-sft.yaml --run-dir runs/support-sft --fresh --no-llm-cache
	@echo "== pipeline run pipelines/deita.yaml (k=3, budget 50), against the in-project LLM server"
	@DEITA_BUDGET=50 Tests/tools/with-llm-server.sh $(BIN) --latency-ms 20 -- \
	  $(BIN)/pipeline run pipelines/deita.yaml --run-dir runs/deita --fresh --no-llm-cache
	@echo "== pipeline run pipelines/distill.yaml: two teachers, a judge, SFT messages and DPO pairs"
	@Tests/tools/with-llm-server.sh $(BIN) --latency-ms 20 -- \
	  $(BIN)/pipeline run pipelines/distill.yaml --run-dir runs/distill --fresh --no-llm-cache
	@echo "== pipeline run pipelines/ultrachat-sft.yaml: a chat dataset loaded from the Hub double, last turns written again, SFT Parquet"
	@rm -rf runs/hub-cache
	@PIPELINE_CACHE_DIR=$$(pwd)/runs/hub-cache Tests/tools/with-llm-server.sh $(BIN) --latency-ms 20 -- Tests/tools/with-hub-server.sh --lax-lfs -- \
	  sh -c 'python3 Tests/hub/seed_from_dir.py "$$HF_ENDPOINT" HuggingFaceH4/ultrachat_200k pipelines/hub-datasets/ultrachat-mini && \
	  $(BIN)/pipeline run pipelines/ultrachat-sft.yaml --run-dir runs/ultrachat-sft --fresh --no-llm-cache'
	@echo "== pipeline run pipelines/textgen-hub.yaml: answers pushed to the in-project Hub double as they come"
	@HUB_EVERY_ROWS=5 Tests/tools/with-llm-server.sh $(BIN) --latency-ms 20 -- Tests/tools/with-hub-server.sh -- \
	  $(BIN)/pipeline run pipelines/textgen-hub.yaml --run-dir runs/textgen-hub --fresh --no-llm-cache
	@echo "outputs: $$(pwd)/runs/demo/demo.jsonl ($$(wc -l < runs/demo/demo.jsonl) rows)"
	@echo "         $$(pwd)/runs/textgen/textgen.jsonl (LLM answers; teacher I/O log: runs/textgen/llm-io.jsonl)"
	@echo "         $$(pwd)/runs/support-sft/support-sft.jsonl (SFT messages rows: $$(wc -l < runs/support-sft/support-sft.jsonl))"
	@echo "         $$(pwd)/runs/deita/deita.jsonl (the DEITA selection: $$(wc -l < runs/deita/deita.jsonl) rows)"
	@echo "         $$(pwd)/runs/distill/sft.jsonl and dpo.jsonl (distillation: $$(wc -l < runs/distill/sft.jsonl) SFT rows, $$(wc -l < runs/distill/dpo.jsonl) preference pairs)"
	@echo "         $$(pwd)/runs/ultrachat-sft/ultrachat-sft.parquet (SFT messages from a Hub chat dataset, Parquet)"

# A Python venv for the conformance tests: pyarrow (Arrow C Data Interface)
# and huggingface_hub + datasets (reading back what push_to_hub pushed).
# Tests/hub/requirements.txt pins every package with its hash; --no-deps
# because huggingface_hub declares hf-xet, which the tests must not use.
VENV_REQUIREMENTS = Tests/hub/requirements.txt
venv: $(VENV)/.ready
$(VENV)/.ready: $(VENV_REQUIREMENTS) Tests/conformance/requirements.txt
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  echo "Installing python3-venv"; SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y python3-venv; \
	fi
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	@# Hash-pinned requirements over verified TLS, never anything less: behind an
	@# intercepting proxy, give pip the proxy's CA (PIP_CERT or REQUESTS_CA_BUNDLE).
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r $(VENV_REQUIREMENTS) \
	  || { echo "make venv: pip could not install $(VENV_REQUIREMENTS)." >&2; \
	       echo "  If the error above is a TLS/certificate failure (an intercepting proxy), point pip at" >&2; \
	       echo "  the proxy's CA bundle: PIP_CERT=/path/to/ca.pem make test (or REQUESTS_CA_BUNDLE=...)." >&2; \
	       echo "  TLS verification is never switched off." >&2; rm -rf $(VENV); exit 1; }
	touch $@

# llama-cpp-python (which compiles llama.cpp) and gguf, for test-llama: a
# venv of its own, since a clean install takes minutes (pip's wheel cache
# makes the next one take seconds).
LLAMA_VENV = .build/llama-venv
llama-venv: $(LLAMA_VENV)/.ready
$(LLAMA_VENV)/.ready: Tests/tools/llama-requirements.txt
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
	  echo "Installing python3-venv"; SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y python3-venv; \
	fi
	@command -v g++ >/dev/null 2>&1 || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y g++; }
	rm -rf $(LLAMA_VENV)
	$(PYTHON) -m venv $(LLAMA_VENV)
	@echo "pip install -r Tests/tools/llama-requirements.txt (compiles llama.cpp: minutes the first time)"
	@$(LLAMA_VENV)/bin/pip install --quiet --disable-pip-version-check -r Tests/tools/llama-requirements.txt \
	  || { echo "make llama-venv: pip could not install Tests/tools/llama-requirements.txt" >&2; rm -rf $(LLAMA_VENV); exit 1; }
	touch $@

# structured_generation end to end against python -m llama_cpp.server with a
# tiny random GGUF model (Tests/tools/make-tiny-gguf.py): LlamaStructuredTests.
test-llama: plugins llama-venv
	PIPELINE_LLAMA_PYTHON=$(abspath $(LLAMA_VENV))/bin/python $(SWIFT) test -c $(CONFIG) --filter LlamaStructuredTests

# Real-model tests (RealModelTests): a tiny random GGUF model with a byte-level
# BPE vocabulary (make-tiny-gguf.py --tokenizer bpe), served by llama-cpp-python
# through `llms: NAME: serve:`; textgen, embeddings and DEITA against it, and no
# server left afterwards, nor after a kill -9 of the host. Needs the llama venv
# (about 10 minutes the first time: pip compiles llama.cpp), so not in `make test`.
test-real: plugins llama-venv
	$(SWIFT) build -c $(CONFIG) --product llm-test-server
	PIPELINE_LLAMA_PYTHON=$(abspath $(LLAMA_VENV))/bin/python $(SWIFT) test -c $(CONFIG) --filter 'RealModelTests|ServeTests'

# The C SDK helper, alone, under AddressSanitizer and UBSan.
test-c:
	@mkdir -p .build/c-tests
	$(CC) -std=c11 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -I$(ABI_INC) -o .build/c-tests/arrow_helper_test Tests/Fixtures/c/arrow_helper_test.c
	.build/c-tests/arrow_helper_test

# make install into a temporary prefix, then build an out-of-tree plugin
# with nothing but the installed header and pkg-config, and run a batch.
test-install:
	Tests/install/test-install.sh

# The C plugin of Tests/abi built against every released header (1.0 to 1.4, frozen
# snapshots), today's and a "next" header, run through this host; then the
# host itself built against the next header runs the old plugins.
test-abi: plugins
	$(SWIFT) build -c $(CONFIG) --product llm-test-server
	Tests/abi/compat.sh $(BIN) --future-host

# The Rust SDK and its example plugin (sdk/rust): offline, no crates.io.
# Builds into .build/rust (sdk/rust/.cargo/config.toml); skipped without cargo.
rust-example:
	@if command -v cargo >/dev/null 2>&1; then \
	  echo "cd sdk/rust && cargo build --offline --release -p word_count"; \
	  cd sdk/rust && cargo build --offline --release -p word_count; \
	else \
	  echo "make rust-example: skipped (cargo is not on PATH)"; \
	fi

# cargo test of the SDK (with its check against the C header), then a
# pipeline run through the example plugin; prints "skipped" without cargo.
test-rust: plugins
	Tests/rust/test-rust.sh $(BIN)

test: plugins venv test-c
	$(SWIFT) build -c $(CONFIG) --product ArrowConformance
	PIPELINE_REQUIRE_PYARROW=1 $(SWIFT) test -c $(CONFIG)
	$(MAKE) --no-print-directory test-abi
	$(MAKE) --no-print-directory test-install
	$(MAKE) --no-print-directory test-rust

install: plugins
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/pipeline \
	  $(DESTDIR)$(PREFIX)/lib/pipeline/plugins $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BIN)/pipeline $(DESTDIR)$(PREFIX)/bin/pipeline
	install -m 644 $(ABI_INC)/pipeline_plugin.h $(ABI_INC)/pipeline_arrow_c.h $(ABI_INC)/pipeline_arrow.h \
	  $(DESTDIR)$(PREFIX)/include/pipeline/
	for f in $(PLUGIN_DIR)/*.so; do install -m 755 "$$(readlink -f $$f)" $(DESTDIR)$(PREFIX)/lib/pipeline/plugins/$$(basename $$f); done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*static let host = "\(.*\)"/\1/p' Sources/PipelineBase/PipelineVersion.swift)|' \
	  Plugins/pipeline-plugin.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/pipeline-plugin.pc
	install -d $(DESTDIR)$(PREFIX)/share/doc/pipeline $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(DOCS) $(DESTDIR)$(PREFIX)/share/doc/pipeline/
	@# pipeline.1 from the CLI's own help (swift-argument-parser's generate-manual plugin).
	$(SWIFT) package plugin generate-manual --configuration $(CONFIG) > .build/generate-manual.log 2>&1 \
	  || { cat .build/generate-manual.log; exit 1; }
	install -m 644 "$$(find .build/plugins -path '*GenerateManual*' -name pipeline.1 | head -n 1)" \
	  $(DESTDIR)$(PREFIX)/share/man/man1/pipeline.1
	@# The Rust SDK's source (crate and example, as laid out in sdk/rust), to build against.
	@for f in pipeline-sdk/Cargo.toml examples/word_count/Cargo.toml \
	  $$(cd sdk/rust && find pipeline-sdk/src pipeline-sdk/tests examples/word_count/src -name '*.rs' | sort); do \
	  install -d "$(DESTDIR)$(PREFIX)/share/pipeline/rust/$$(dirname $$f)" && \
	  install -m 644 "sdk/rust/$$f" "$(DESTDIR)$(PREFIX)/share/pipeline/rust/$$f" || exit 1; \
	done
	@echo "installed into $(DESTDIR)$(PREFIX) (docs: $(PREFIX)/share/doc/pipeline, Rust SDK: $(PREFIX)/share/pipeline/rust)"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pipeline $(DESTDIR)$(PREFIX)/lib/pkgconfig/pipeline-plugin.pc
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/pipeline.1
	rm -rf $(DESTDIR)$(PREFIX)/include/pipeline $(DESTDIR)$(PREFIX)/lib/pipeline
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/pipeline $(DESTDIR)$(PREFIX)/share/pipeline

bench: bench-tools
	$(MAKE) --no-print-directory CONFIG=release plugins
	$(SWIFT) build -c release --product pipeline-bench
	@echo "== ABI: a batch through a C plugin and back"
	.build/release/pipeline-bench abi --plugin .build/release/pipeline-plugins/libtext_filter.so
	@echo "== streaming: load_jsonl -> text_filter (C) -> write_jsonl"
	Tests/bench/stream-bench.sh .build/release
	@echo "== checkpoint overhead: state store on vs --no-checkpoint"
	Tests/bench/checkpoint-bench.sh .build/release
	@echo "== everyday verbs on 1M rows: filter and map beside load -> write (pass-through)"
	Tests/bench/verbs-bench.sh .build/release
	@echo "== iterating: DEITA --preview 10 beside its latency floor; calls a --resume-changed rerun saves"
	$(SWIFT) build -c release --product llm-test-server
	Tests/bench/iterate-bench.sh .build/release
	@echo "== LLM: text generation beside distilabel 1.5.3 and Curator 0.1.31 (same llm-test-server)"
	$(MAKE) --no-print-directory bench-llm
	@echo "== max_concurrency: auto beside fixed limits on a server with K slots (K=4, 1; queued or 429)"
	$(MAKE) --no-print-directory bench-adaptive
	@echo "== DEITA filter alone: 100k x 384 (random, clustered, inline JSONL), 1M x 384; distilabel's DeitaFiltering at 5k/10k/20k"
	$(MAKE) --no-print-directory bench-deita
	@echo "== DEITA pipeline end to end beside distilabel 1.5.3 (N=1000, k=3; ours also k=5)"
	$(MAKE) --no-print-directory bench-deita-pipeline
	@echo "== distill.yaml end to end beside distilabel 1.5.3 (N=2000 prompts x 2 teachers + a judge)"
	$(MAKE) --no-print-directory bench-distill
	@echo "== dedup: dedup_minhash and dedup_exact on 1M short rows beside distilabel 1.5.3's MinHashDedup"
	$(MAKE) --no-print-directory bench-dedup
	@echo "== non-LLM steps on 1M rows: each beside load_jsonl -> write_jsonl; the slowest profiled"
	$(MAKE) --no-print-directory bench-steps
	@echo "== Parquet: 1 GB of JSON Lines + embeddings written as Parquet, and read back, beside pyarrow"
	$(MAKE) --no-print-directory bench-parquet
	@echo "== load_from_hub: 200k rows from the Hub double, first run and a warm re-run (nothing downloaded)"
	$(MAKE) --no-print-directory bench-hub-load

# GNU time (/usr/bin/time -v: peak RSS) for the benchmarks; not on a fresh Debian.
bench-tools:
	@[ -x /usr/bin/time ] || { echo "Installing GNU time (peak RSS for the benchmarks)"; SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y time; }

# Our text_generation vs distilabel and Curator: N=2000, 50 in flight, 50 ms per request.
# Peer venvs are made once under .build/bench-venvs from ../shared/peer-bench*/requirements.lock.txt.
# BENCH_LLM_FLAGS e.g. "--tools ours --reps 1", "--strict", "--server peer-stub".
bench-llm: bench-tools
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y python3-venv; }
	$(MAKE) --no-print-directory CONFIG=release plugins
	$(SWIFT) build -c release --product llm-test-server
	$(PYTHON) Tests/bench/llm/llm-bench.py --bin-dir .build/release $(BENCH_LLM_FLAGS)

# max_concurrency: auto against fixed 1..64 on llm-test-server --capacity K (K=4, 1;
# --over-capacity queue and 429), 50 ms per request; target: auto >= 90% of the best fixed.
# BENCH_ADAPTIVE_FLAGS e.g. "--capacities 4 --modes 429 --rows 400", "--strict".
bench-adaptive:
	$(MAKE) --no-print-directory CONFIG=release plugins
	$(SWIFT) build -c release --product llm-test-server
	$(PYTHON) Tests/bench/llm/adaptive-bench.py --bin-dir .build/release $(BENCH_ADAPTIVE_FLAGS)

# The DEITA filter alone on 100k x 384 pools (random, clustered), from .npy and inline JSONL.
bench-deita:
	$(MAKE) --no-print-directory CONFIG=release plugins
	$(PYTHON) Tests/bench/deita-filter/bench.py --bin .build/release --plugin-path .build/release/pipeline-plugins

# The whole DEITA pipeline beside distilabel 1.5.3: N=1000, k=3 (and ours at k=5), 50 ms, 50 in flight.
bench-deita-pipeline:
	$(MAKE) --no-print-directory CONFIG=release plugins
	$(SWIFT) build -c release --product llm-test-server
	$(PYTHON) Tests/bench/llm/deita-bench.py --bin-dir .build/release $(BENCH_DEITA_FLAGS)

# serve: with llama-cpp-python and the tiny random GGUF model; baseline: the
# same textgen against a server started by hand. Needs the llama venv.
bench-serve: llama-venv
	$(MAKE) --no-print-directory CONFIG=release plugins
	$(PYTHON) Tests/bench/serve-bench.py --bin-dir .build/release --python $(LLAMA_VENV)/bin/python

# pipelines/distill.yaml beside distilabel 1.5.3 (TextGeneration x 2 + UltraFeedback):
# N=2000 prompts, 2 teachers x 2 answers, a judge; 50 ms, 50 in flight per model.
# BENCH_DISTILL_FLAGS e.g. "--tools ours", "--reps 3", "--n 500".
bench-distill:
	$(MAKE) --no-print-directory CONFIG=release plugins
	$(SWIFT) build -c release --product llm-test-server
	$(PYTHON) Tests/bench/llm/distill-bench.py --bin-dir .build/release $(BENCH_DISTILL_FLAGS)

# dedup_minhash and dedup_exact on 1M rows, then distilabel's MinHashDedup on
# BENCH_DEDUP_PEER_ROWS of them (about 12 minutes at 1M; 0: its similarity sweep only).
BENCH_DEDUP_PEER_ROWS ?= 1000000
bench-dedup: bench-tools
	$(MAKE) --no-print-directory CONFIG=release plugins
	DEDUP_PEER_ROWS=$(BENCH_DEDUP_PEER_ROWS) Tests/bench/dedup-bench.sh .build/release 1000000

# filter, map, text_filter, keep_columns, dedup_exact, dedup_minhash, limit,
# load_csv, load_parquet and write_parquet on 1M rows, each beside load_jsonl ->
# write_jsonl: wall, x pass-through, busy seconds, rows/s, MB/s, peak RSS;
# the slowest step under perf record -g.
bench-steps: bench-tools
	$(MAKE) --no-print-directory CONFIG=release plugins
	Tests/bench/steps-bench.sh .build/release 1000000

# write_parquet and load_parquet beside pyarrow on SIZE_MB (default 1000) MB of
# rows with chat messages and a 256-float embedding each.
bench-parquet: venv bench-tools
	$(MAKE) --no-print-directory CONFIG=release plugins
	Tests/bench/parquet-bench.sh .build/release

# load_from_hub -> write_jsonl on a 200k-row dataset the Hub double serves, twice.
bench-hub-load: venv bench-tools
	$(MAKE) --no-print-directory CONFIG=release plugins
	Tests/bench/hub-load-bench.sh .build/release

# The kill/resume test with 100 SIGKILLs instead of CI's 20.
chaos: plugins
	PIPELINE_CHAOS_KILLS=$${PIPELINE_CHAOS_KILLS:-100} $(SWIFT) test -c $(CONFIG) --filter KillResume

# Fuzzing (Tests/fuzz/README.md): swiftc -sanitize=fuzzer,address builds into
# .build/fuzz; every regression input is replayed, then each target runs for
# FUZZ_SECONDS. `make fuzz FUZZ_SECONDS=600` is the 10-minute run per target.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	Tests/fuzz/build.sh $(FUZZ_TARGETS)
	Tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-coverage: deps
	Tests/fuzz/coverage.sh $(FUZZ_TARGETS)

clean:
	$(SWIFT) package clean
	rm -rf .build/c-tests runs
