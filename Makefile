# restorebench — every target creates the project's virtual environment (.venv) when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DB     ?= results/restorebench.duckdb
SPEC   ?= bench/specs/default.yaml
PORT   ?= 8000
# The metric authors' calibration pairs beside the project (CI's layout); calibration tests and
# metric speed benchmarks read them, and skip with a reason when the folder is absent.
RESTOREBENCH_CALIBRATION_DIR ?= $(wildcard $(abspath ..)/shared/calibration)
export RESTOREBENCH_CALIBRATION_DIR

.PHONY: setup bench bench-smoke test perf perf-check perf-compare site serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install restorebench with its pinned dependencies

bench: $(STAMP)  ## the embedded default benchmark, then the leaderboard
	$(BIN)/restorebench run $(SPEC) --db $(DB) --out results
	$(BIN)/restorebench leaderboard --db $(DB)
	@if $(BIN)/restorebench site --help >/dev/null 2>&1; then $(BIN)/restorebench site --db $(DB) --out results/site; fi

bench-smoke: $(STAMP)  ## a one-minute version of `make bench`
	$(BIN)/restorebench run bench/specs/smoke.yaml --db results/smoke.duckdb --out results
	$(BIN)/restorebench leaderboard --db results/smoke.duckdb

test: $(STAMP)  ## the test suite (perf benchmarks excluded)
	$(BIN)/python -m pytest -m "not perf" -q

perf: $(STAMP)  ## speed benchmarks (pytest-benchmark); results saved under .benchmarks/
	$(BIN)/python -m pytest -m perf tests/perf -q --benchmark-only --benchmark-autosave --benchmark-columns=min,median,mean,rounds

perf-check: $(STAMP)  ## compare with the last saved benchmark; fail on a median slower by > 25 %
	$(BIN)/python -m pytest -m perf tests/perf -q --benchmark-only --benchmark-compare --benchmark-compare-fail=median:25%

BASE ?= HEAD~1
perf-compare: $(STAMP)  ## the quick benchmarks of $(BASE) and of the working tree, alternately in one run; fail on a minimum slower by > 50 %
	$(BIN)/python tests/perf/compare_revisions.py --base $(BASE)

site: $(STAMP)  ## build the leaderboard site from $(DB) into results/site
	$(BIN)/restorebench site --db $(DB) --out results/site

serve: site  ## serve the built site on localhost only
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory results/site

clean:  ## remove results and caches (keeps .venv)
	rm -rf results .benchmarks build *.egg-info
