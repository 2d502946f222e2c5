# strata: the two commands a newcomer types are `make demo` and `make test`.
# Everything they need is installed by scripts/setup (idempotent, quiet when done).

PY      := $(CURDIR)/.venv/bin/python
BUILD   := $(CURDIR)/build
JOBS    ?= 2
CMAKE_FLAGS := -G Ninja -DSTRATA_PYTHON=$(PY) -DPython_EXECUTABLE=$(PY) -DSTRATA_BUILD_PYTHON=ON \
               -DCMAKE_BUILD_TYPE=RelWithDebInfo $(if $(CI),-DSTRATA_WERROR=ON,)

.PHONY: all setup build demo test test-cpp test-python test-asan fuzz bench clean help

all: build

help:
	@echo "make demo    install what is missing, build, run the end-to-end demo"
	@echo "make test    install what is missing, build, run every test (C++ and Python)"
	@echo "make bench   run the peer benchmarks (results: bench/RESULTS.md)"
	@echo "make fuzz    build and run the libFuzzer harnesses for a short while"

setup:
	@scripts/setup

build: setup
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@ninja -C $(BUILD) -j$(JOBS) | grep -v "^ninja: no work to do" || true
	@test -x $(BUILD)/cpp/src/strata/table/strata_table_test || { echo "build failed"; exit 1; }
	@ninja -C $(BUILD) -j$(JOBS) >/dev/null

demo: build
	@.venv/bin/strata demo

test: build
	@scripts/setup-spark
	@scripts/setup-browser
	@scripts/run-tests

test-cpp: build
	@cd $(BUILD) && ctest -j$(JOBS) --output-on-failure

test-python: build
	@scripts/setup-spark
	@scripts/setup-browser
	@.venv/bin/python -m pytest -q tests

test-asan: setup
	@scripts/run-asan

fuzz: setup
	@scripts/run-fuzz 60

bench: build
	@.venv/bin/python bench/table/bench_table.py
	@.venv/bin/python bench/merge/bench_merge.py
	@bench/quality/setup-ge
	@.venv/bin/python bench/quality/bench_quality.py
	@.venv/bin/python bench/quality/bench_profile.py
	@.venv/bin/python bench/features/bench_asof.py
	@bench/pit/setup-feast
	@.venv/bin/python bench/pit/bench_pit.py
	@bench/serve/setup
	@.venv/bin/python bench/serve/bench_serve.py

clean:
	rm -rf $(BUILD) build-asan build-fuzz
