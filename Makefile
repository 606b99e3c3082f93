# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test fuzz lint bench docs graphviz clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

graphviz:
	@bash scripts/ensure-graphviz.sh

# The demo's matrices are small: the command keeps BLAS to one thread itself (threadpoolctl).
demo: $(STAMP) graphviz
	$(VENV)/bin/minigrad demo

test: $(STAMP) graphviz
	$(PY) -m pytest -q

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
