# omnidex: `make demo` sets everything up and runs the demo; `make test` runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: fuzz fuzz-api demo test test-bench test-fast bench bench-quick bench-clip bench-video_hour bench-scale bench-ray bench-ingest bench-moments bench-shots bench-relevance bench-train bench-fairness bench-serve bench-series bench-algebra bench-audio bench-neardup bench-inside bench-cli model model-series model-audio setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch first (from local disk here); the extras then find it satisfied
	$(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e ".[all,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m omnidex.demo --out demo-data

# The tests run in a random order (pytest-randomly), so none can lean on another; the seed is printed
# and `make test SEED=N` replays that order. Benchmark smoke runs are marked bench: make test-bench.
ifeq ($(origin SEED), undefined)
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif

test: $(STAMP)
	$(BIN)/lint-imports
	@echo "make test: random order, seed $(SEED) (replay: make test SEED=$(SEED))"
	$(BIN)/python -m pytest -q -m "not bench" --timeout=900 -p randomly --randomly-seed=$(SEED)

test-bench: $(STAMP)
	$(BIN)/python -m pytest -q -m bench --timeout=900

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not bench"

bench: $(STAMP)
	$(BIN)/python -m bench.suite --out bench/results

bench-quick: $(STAMP)
	$(BIN)/python -m bench.suite --out bench/results --quick

bench-clip bench-video_hour bench-scale bench-ray: bench-%: $(STAMP)
	$(BIN)/python -m bench.$*.run --out bench/results/$*

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest_bench.py --out bench/results

bench-moments: $(STAMP)
	$(BIN)/python -m bench.moments.run --out bench/results/moments

bench-shots: $(STAMP)
	$(BIN)/python -m bench.shots.run --out bench/results/shots

bench-relevance: $(STAMP)
	$(BIN)/python -m bench.relevance.run --out bench/results/relevance

model: $(STAMP)
	$(BIN)/python -m omnidex.train.make_model

bench-train: $(STAMP)
	$(BIN)/python -m bench.train.run --out bench/results/train
	nice $(BIN)/python -m bench.train.arch --out bench/results/train

bench-fairness: $(STAMP)
	nice $(BIN)/python -m bench.fairness.run --out bench/results/fairness

model-series: $(STAMP)
	$(BIN)/python -m omnidex.train.make_series_model

bench-series: $(STAMP)
	$(BIN)/python -m bench.series.run --out bench/results/series

model-audio: $(STAMP)
	$(BIN)/python -m omnidex.train.make_audio_model

bench-audio: $(STAMP)
	$(BIN)/python -m bench.audio.run --out bench/results/audio

bench-algebra: $(STAMP)
	$(BIN)/python -m bench.algebra.run

bench-cli: $(STAMP)
	$(BIN)/python -m bench.cli_cold.run --out bench/results/cli_cold

bench-neardup: $(STAMP)
	$(BIN)/python -m bench.neardup.run --out bench/results/neardup

.PHONY: bench-video_speed
bench-video_speed: $(STAMP)
	$(BIN)/python -m bench.video_speed.run --out bench/results/video_speed

.PHONY: bench-ocr
bench-ocr: $(STAMP)
	$(BIN)/python -m bench.ocr.run --out bench/results/ocr
	$(BIN)/python -m bench.ocr.guesses --out bench/results/ocr_guesses
	$(BIN)/python -m bench.ocr.spots --out bench/results/ocr_spots

bench-inside: $(STAMP)
	$(BIN)/python -m bench.inside.run --out bench/results/inside

.PHONY: bench-generate
bench-generate: $(STAMP)
	$(BIN)/python -m bench.generate.run --out bench/results/generate

bench-serve: $(STAMP)
	$(BIN)/python -m bench.serve.run --out bench/results/serve

FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	for t in sniff mp4_boxes isobmff series pairs range; do $(BIN)/python -m fuzz.run $$t --seconds $(FUZZ_SECONDS) || exit 1; done

fuzz-api: $(STAMP)
	OMNIDEX_CONTRACT_EXAMPLES=100 $(BIN)/python -m pytest -q tests/test_serve_contract.py

clean:
	rm -rf demo-data omnidex-data .pytest_cache
