# pywarp_sim developer entry points. `make test` is what CI runs (.ci/run).
#
#   make venv    create .venv from the lock (requirements/) and build/install the package
#                (editable) with the native modules
#   make lock    re-resolve requirements/*.txt from pyproject.toml with uv (the only way to
#                change a pinned version)
#   make conformance MUJOCO=X.Y.Z   run the MuJoCo conformance suite against another MuJoCo
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
PY_MINOR := $(shell $(PYTHON3) -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")' 2>/dev/null)
# One lock per platform class (README "Dependencies"): exact versions of everything installed.
LOCK_CPU := requirements/cpu-py311.txt
LOCK_GPU := requirements/gpu-cuda-py312.txt
ifeq ($(HAVE_GPU),1)
  LOCK ?= $(LOCK_GPU)
  LOCK_PY := 312
else
  # CPU-only machine: torch 2.13.0+cpu, the CPU build these machines provide (PIP_FIND_LINKS);
  # PyPI's torch for Linux is a CUDA build of several GB.
  LOCK ?= $(LOCK_CPU)
  LOCK_PY := 311
  # nvcc may exist without a GPU; skip the CUDA module so CPU builds stay fast.
  PWS_CMAKE_ARGS := -DPWS_CUDA=OFF
endif

NATIVE_SOURCES := $(wildcard csrc/*) $(wildcard kernels/*)
UV := $(VENV)/bin/uv
# where the CPU lock finds torch's CPU build (the machine's wheel folder)
LOCK_FIND_LINKS := $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS))
LOCK_OPTS := --quiet --python-platform x86_64-manylinux_2_28 --no-strip-extras \
  --custom-compile-command 'make lock'

.PHONY: venv demo test bench clean distclean lock check-lock check-lock-pyproject conformance

venv: $(STAMP)

$(PY):
	@[ "$(PY_MINOR)" = "$(LOCK_PY)" ] || { echo "make: $(LOCK) is resolved for Python 3.$(LOCK_PY:3%=%), \
	  but $(PYTHON3) is Python $(PY_MINOR:3%=3.%); run with PYTHON3=python3.$(LOCK_PY:3%=%)" >&2; exit 2; }
	$(PYTHON3) -m venv $(VENV)

# Exactly the lock: --no-deps, so nothing is resolved at install time; check_lock.py then
# verifies the venv against the lock (pip check: the lock is complete; versions equal).
$(STAMP): $(PY) $(LOCK) pyproject.toml CMakeLists.txt $(NATIVE_SOURCES)
	$(PYTHON3) .ci/check_lock.py --pyproject $(LOCK)
	$(PY) -m pip install -q --no-deps -r $(LOCK)
	CMAKE_ARGS="$(strip $(CMAKE_ARGS) $(PWS_CMAKE_ARGS))" \
	  $(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) .ci/check_lock.py --venv $(LOCK)
	touch $@

# the lock is current (seconds, before any install; .ci/run's first step) / the venv is the lock
check-lock-pyproject:
	$(PYTHON3) .ci/check_lock.py --pyproject $(LOCK)

check-lock: venv
	$(PY) .ci/check_lock.py --pyproject --venv $(LOCK)

# Re-resolve both locks from pyproject.toml (uv at the version of the CPU lock). CPU: Python 3.11 with
# torch's CPU build; GPU: Python 3.12 (the device image) with PyPI's CUDA torch 2.11.
lock: $(PY)
	$(PY) -m pip install -q --no-deps $$(grep -m1 '^uv==' $(LOCK_CPU))
	$(UV) pip compile pyproject.toml --extra dev $(LOCK_OPTS) --python-version 3.11 \
	  $(LOCK_FIND_LINKS) --constraint requirements/cpu-torch.in -o $(LOCK_CPU)
	$(UV) pip compile pyproject.toml --extra dev --extra bench-gpu $(LOCK_OPTS) --python-version 3.12 \
	  --constraint requirements/gpu-torch.in -o $(LOCK_GPU)

demo: venv
	$(PY) -m pywarp_sim.demo

# The conformance suite against another MuJoCo release, side by side with the locked one
# (build/mujoco-X.Y.Z): per pair type and per model, how many states differ. MUJOCO=4.0.1
conformance: venv
	@[ -n "$(MUJOCO)" ] || { echo "make conformance: set MUJOCO=X.Y.Z (the release to compare)" >&2; exit 2; }
	$(PY) -m bench conformance --mujoco $(MUJOCO) $(BENCH_ARGS)

# pytest's own exit code is kept in build/pytest-exit-code for .ci/run; exit 5 = no tests collected.
test: venv
	@mkdir -p build
	@$(PY) .ci/check_lock.py --venv $(LOCK)
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
