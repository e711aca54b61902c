# `make test` and `make demo` work on a fresh machine: each builds the pinned
# environment in $(VENV) first (once; again when the requirements change).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stepsize-installed
# The integration environment: the current transformers, accelerate and Lightning releases,
# which the main environment cannot hold next to its transformers reference (4.46).
INTEGRATION_VENV ?= .venv-integration
INTEGRATION_PY := $(INTEGRATION_VENV)/bin/python
INTEGRATION_STAMP := $(INTEGRATION_VENV)/.stepsize-installed

.PHONY: test test-integration demo lint typecheck bench clean docs docs-serve release-check

$(STAMP): pyproject.toml constraints.txt requirements-test.txt constraints-docs.txt requirements-docs.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -r requirements-test.txt
	# tf-keras (the transformers TF reference) asks for `tensorflow`; tensorflow-cpu provides it.
	$(PY) -m pip install -q --no-deps -c constraints.txt tf-keras
	$(PY) -m pip install -q -c constraints.txt -c constraints-docs.txt -r requirements-docs.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

$(INTEGRATION_STAMP): pyproject.toml constraints-integration.txt requirements-integration.txt
	$(PYTHON) -m venv $(INTEGRATION_VENV)
	$(INTEGRATION_PY) -m pip install -q --upgrade pip
	$(INTEGRATION_PY) -m pip install -q -c constraints-integration.txt -r requirements-integration.txt
	$(INTEGRATION_PY) -m pip install -q --no-deps -e .
	touch $(INTEGRATION_STAMP)

test: $(STAMP) $(INTEGRATION_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest
	$(INTEGRATION_PY) -m pytest tests_integration

# stepsize inside transformers' Trainer, accelerate (2 processes) and Lightning.
test-integration: $(INTEGRATION_STAMP)
	$(INTEGRATION_PY) -m pytest tests_integration

demo: $(STAMP)
	$(VENV)/bin/stepsize demo

bench: $(STAMP)
	$(VENV)/bin/stepsize bench

# The documentation site: `make docs` builds it into site/ with warnings as errors;
# `make docs-serve` serves it at http://127.0.0.1:8000/stepsize/ while you edit.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --strict

# The sdist and the wheel, the wheel smoke-tested in a clean venv (`make test` runs it too).
release-check: $(STAMP)
	$(PY) scripts/release_check.py

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

clean:
	rm -rf $(VENV) $(INTEGRATION_VENV) .pytest_cache .mypy_cache build dist site *.egg-info src/*.egg-info
