# canvas-live: `make serve` runs the server on a demo vault, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The JS side of the suite (type checks, schema validation) runs tools from npm, pinned in package-lock.json.
NODE_STAMP := node_modules/.installed

.PHONY: serve test lint client-types obsidian-plugin bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("canvas-live needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

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

# web/client.d.ts is generated from client.js's JSDoc and checked in; tests/test_js_client.py fails when it is stale.
client-types: $(NODE_STAMP)
	node_modules/.bin/tsc --project tsconfig.client.json

# web/obsidian/main.js is built from web/obsidian/src/ by the pinned esbuild and checked in;
# tests/test_obsidian_plugin.py fails when it differs from a fresh build.
obsidian-plugin: $(NODE_STAMP)
	npm run --silent build:obsidian

# The wire-level tests run twice: against one process, then each against one process of a pair on
# one Redis (tests/conftest.py, CANVAS_LIVE_TEST_PAIRED); the browser, JS and scale-out tests once.
PAIRED_SKIP := --ignore=tests/test_browser_client.py --ignore=tests/test_browser_dashboard.py \
	--ignore=tests/test_js_client.py --ignore=tests/test_obsidian_plugin.py --ignore=tests/test_scale_out.py --ignore=tests/test_scale_out_faults.py

test: lint $(NODE_STAMP)
	$(BIN)/pytest -n auto --cov --cov-report=term -q
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

clean:
	rm -rf $(VENV) node_modules .coverage .pytest_cache .mypy_cache .ruff_cache
