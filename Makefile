# Two commands on a fresh machine: `make demo` and `make test`.
# Both create (or refresh) .venv from uv.lock first; nothing else needs to be installed by hand.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

# PyTorch's CPU build (the `torch` extra): from a local wheel when the machine keeps one, else
# from PyTorch's CPU index. PyPI's default build would bring about 3 GB of CUDA libraries.
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-*+cpu-cp3*-manylinux*_x86_64.whl))
TORCH_SPEC := $(if $(TORCH_WHEEL),$(TORCH_WHEEL),torch --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple)
SYNC := $(UV) sync --frozen --all-extras --no-extra torch --inexact --compile-bytecode --python $(PYTHON)

.PHONY: demo test check lint format env clean bench

env: $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(SYNC)
	$(VENV)/bin/python -c "import torch" 2>/dev/null || $(UV) pip install --python $(VENV)/bin/python --compile-bytecode $(TORCH_SPEC)
	@touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/evergreen demo

test: $(VENV)/.synced
	bash scripts/ensure-postgres.sh
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

# Benchmarks run side by side with the tools users would otherwise pick (DVC, Evidently, ...).
bench: $(VENV)/.synced
	$(SYNC) --group bench
	$(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

check: $(VENV)/.synced
	$(VENV)/bin/ruff check src tests examples
	$(VENV)/bin/ruff format --check src tests examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(VENV)/.synced
	$(VENV)/bin/ruff format src tests examples
	$(VENV)/bin/ruff check --fix src tests examples

clean:
	rm -rf $(VENV) $(TOOLS) .evergreen .pytest_cache .mypy_cache .ruff_cache
