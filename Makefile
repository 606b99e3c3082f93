# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
# It installs everything the test suite uses, so that `make test` runs every test: minigrad with
# its test and examples extras, the PyTorch CPU build the differential tests compare against,
# Graphviz's `dot` and a headless Chromium (scripts/ensure-system-packages.sh).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test fuzz lint bench docs graphviz browser clean

# The oracle of the differential tests. This exact version: a CPU build of it lies on the
# machines CI uses; asking for another version (or none) can fetch a multi-GB CUDA build.
TORCH := torch==2.13.0

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '$(TORCH)' || { echo "minigrad: could not install $(TORCH), which the differential tests compare against; install it into $(VENV) and run the command again" >&2; exit 1; }
	$(PY) -m pip install -q -e '.[test,examples]'
	@touch $(STAMP)

graphviz:
	@bash scripts/ensure-system-packages.sh dot:graphviz

browser:
	@bash scripts/ensure-system-packages.sh chromium:chromium

# The demo's matrices are small: the command keeps BLAS to one thread itself (threadpoolctl).
demo: $(STAMP) graphviz
	$(VENV)/bin/minigrad demo

# Two workers (pytest-xdist) on a two-core machine; -n auto uses every core elsewhere.
test: $(STAMP) graphviz browser
	$(PY) -m pytest -q -n auto --no-skips

# The differential fuzzer at length: fresh random programs over every op, against PyTorch
# (`make test` runs the same tests on a small fixed budget). MINIGRAD_FUZZ_EXAMPLES sets the
# examples per test (default 400). Each run draws a fresh seed and prints it at the end;
# MINIGRAD_FUZZ_SEED=<seed> replays that run.
fuzz: $(STAMP)
	MINIGRAD_FUZZ=long $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

lint: $(STAMP)
	$(VENV)/bin/ruff check minigrad visualize tests examples bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/bench_compile.py > bench/RESULTS-compile.txt

# The documentation site, docs/ → site/, in strict mode: a warning (a broken link, an API
# reference that does not resolve) fails the build.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[docs]'
	@touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis minigrad-demo site
