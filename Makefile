# `make test` and `make demo` work on a fresh machine: each builds the pinned
# environment in $(VENV) first (once; again when the requirements change).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stepsize-installed

.PHONY: test demo lint typecheck bench clean

$(STAMP): pyproject.toml constraints.txt requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -r requirements-test.txt
	# tf-keras (the transformers TF reference) asks for `tensorflow`; tensorflow-cpu provides it.
	$(PY) -m pip install -q --no-deps -c constraints.txt tf-keras
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/stepsize demo

bench: $(STAMP)
	$(VENV)/bin/stepsize bench

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache build *.egg-info src/*.egg-info
