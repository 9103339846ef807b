# pywarp_sim developer entry points. `make test` is what CI runs (.ci/run).
#
#   make venv    create .venv and build/install the package (editable) with the native modules
#   make demo    run python -m pywarp_sim.demo
#   make test    run the test suite (CPU; GPU tests skip themselves without CUDA)
#   make bench   run python -m bench $(BENCH_ARGS)
#   make clean   remove build outputs (keeps .venv; `make distclean` removes it too)

SHELL := /bin/bash
PYTHON3 ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pws-installed

# Where Warp keeps compiled kernels; pywarp_sim reads PWS_KERNEL_CACHE at import.
export PWS_KERNEL_CACHE ?= $(CURDIR)/build/warp-cache

HAVE_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
ifeq ($(HAVE_GPU),1)
  TORCH_REQ ?= torch
else
  # CPU-only machine: torch 2.13.0 is the CPU build these machines provide (a bare `torch`
  # requirement would pull several GB of CUDA packages).
  TORCH_REQ ?= torch==2.13.0
  # nvcc may exist without a GPU; skip the CUDA module so CPU builds stay fast.
  PWS_CMAKE_ARGS := -DPWS_CUDA=OFF
endif

NATIVE_SOURCES := $(wildcard csrc/*) $(wildcard kernels/*)

.PHONY: venv demo test bench clean distclean

venv: $(STAMP)

$(PY):
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(STAMP): $(PY) pyproject.toml CMakeLists.txt $(NATIVE_SOURCES)
	$(PY) -m pip install $(TORCH_INDEX) '$(TORCH_REQ)'
	$(PY) -m pip install scikit-build-core pybind11
	CMAKE_ARGS="$(strip $(CMAKE_ARGS) $(PWS_CMAKE_ARGS))" \
	  $(PY) -m pip install --no-build-isolation -e '.[dev]'
	touch $@

demo: venv
	$(PY) -m pywarp_sim.demo

# pytest's own exit code is kept in build/pytest-exit-code for .ci/run; exit 5 = no tests collected.
test: venv
	@mkdir -p build
	@rc=0; $(PY) -m pytest -q tests $(PYTEST_ARGS) || rc=$$?; \
	echo $$rc > build/pytest-exit-code; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5); tests/ must contain tests" >&2; fi; \
	exit $$rc

bench: venv
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf build *.egg-info .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +
	rm -f $(STAMP)

distclean: clean
	rm -rf $(VENV)
