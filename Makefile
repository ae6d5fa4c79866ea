# The two commands a newcomer needs: `make run` (the whole system) and `make test`.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: fonts catalogue-check axe typecheck run stop reset status test test-fast test-containers image-check compose-check lint bench vegeta bench-alternatives chaos screenshot tools asyncapi asyncapi-check openapi openapi-lint prometheus-check browser

# The AsyncAPI CLI validates docs/asyncapi.yaml; npm installs it into .local/node on first use.
# 4.1.1 is the last release that runs on Node 20 (5.x and later need Node 24).
ASYNCAPI_CLI_VERSION := 4.1.1
ASYNCAPI_DIR := .local/node
ASYNCAPI_STAMP := $(ASYNCAPI_DIR)/.asyncapi-cli-$(ASYNCAPI_CLI_VERSION)
# Spectral lints the services' OpenAPI documents against .spectral.yaml; npm installs it
# into its own prefix under .local/node on first use. 6.16 runs on Node 20.17 and later.
SPECTRAL_VERSION := 6.16.3
SPECTRAL_DIR := $(ASYNCAPI_DIR)/spectral
SPECTRAL_STAMP := $(SPECTRAL_DIR)/.spectral-cli-$(SPECTRAL_VERSION)
# axe-core checks the workbench's pages for accessibility in the browser tests, which
# inject it into each page; npm installs it into its own prefix under .local/node.
AXE_VERSION := 4.10.3
AXE_DIR := $(ASYNCAPI_DIR)/axe
AXE_STAMP := $(AXE_DIR)/.axe-core-$(AXE_VERSION)

tools:  ## install uv if the machine lacks it
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: tools fonts  ## start Kafka, the store, SMTP, Zipkin, the IdP, the four services and the workbench (REPLICAS=2: two of each; KAFKA_BROKERS=3: a Kafka cluster)
	@$(UV) run --frozen python deploy/local.py up $(if $(KAFKA_BROKERS),--kafka-brokers $(KAFKA_BROKERS))
	@$(UV) run --frozen python deploy/local.py services $(if $(REPLICAS),--replicas $(REPLICAS))

stop: tools  ## stop the services and the infrastructure
	@$(UV) run --frozen python deploy/local.py down --services

reset: tools  ## stop everything and delete its data (downloads are kept)
	@$(UV) run --frozen python deploy/local.py reset

status: tools  ## the operators' table of the live system
	@$(UV) run --frozen python deploy/status.py

screenshot: tools  ## a dossier's trace in the Zipkin UI, to docs/img/trace.png (after `make run`)
	@$(UV) run --frozen python deploy/screenshot.py

screenshots: tools axe  ## the workbench's pages, to docs/img/workbench-*.png (starts its own stack)
	@HOSO_SCREENSHOTS_DIR=docs/img $(UV) run --frozen pytest -q -p no:cacheprovider \
		tests/browser/test_workbench_screenshots.py

test: tools  ## everything: lint, unit, integration, end-to-end, chaos, fuzzing, permissions; then the containers path
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(MAKE) --no-print-directory typecheck
	@$(MAKE) --no-print-directory asyncapi-check
	@$(MAKE) --no-print-directory openapi-lint
	@$(MAKE) --no-print-directory prometheus-check
	@$(MAKE) --no-print-directory compose-check
	@$(MAKE) --no-print-directory browser
	@$(UV) run --frozen python deploy/local.py up kafka store zipkin
	@$(UV) run --frozen pytest
	@$(MAKE) --no-print-directory test-containers
	@$(MAKE) --no-print-directory image-check

test-containers: tools  ## end-to-end tests on Kafka and the store in podman containers (root)
	@exports="$$(bash deploy/containers/setup.sh)" && eval "$$exports" && \
		HOSO_TEST_INFRA=containers $(UV) run --frozen pytest tests/integration/infra tests/e2e/test_pipeline.py

# deploy/Dockerfile as Docker users build it, on a local Debian Python (no registry here),
# then one service from it against the container path's Kafka and store.
image-check: tools  ## build the services' image with podman and check it runs (root)
	@exports="$$(bash deploy/containers/setup.sh)" && eval "$$exports" && \
		exports="$$(bash deploy/containers/services-image.sh)" && eval "$$exports" && \
		HOSO_TEST_INFRA=containers $(UV) run --frozen pytest tests/integration/infra/test_services_image.py

# docker-compose.yml loaded by compose-go, the loader of the docker compose CLI, with
# .env.example (deploy/compose-check/); built once from the Go module proxy (~15 s).
COMPOSE_CHECK := .local/bin/compose-check
compose-check: $(COMPOSE_CHECK)  ## validate docker-compose.yml with .env.example, failing on any warning
	@$(COMPOSE_CHECK) --env-file .env.example docker-compose.yml

$(COMPOSE_CHECK): deploy/compose-check/main.go deploy/compose-check/go.mod deploy/compose-check/go.sum
	@command -v go >/dev/null 2>&1 || { echo "compose-check needs Go"; exit 1; }
	@mkdir -p $(@D)
	@cd deploy/compose-check && go build -trimpath -o $(CURDIR)/$@ .

test-fast: tools  ## pure domain tests only, no servers
	@$(UV) run --frozen pytest tests/unit

# The province's catalogue file before it goes live: FILE=..., else CATALOGUE_PATH, else the packaged one.
catalogue-check: tools  ## check a catalogue file and print its problems as a table (FILE=path)
	@$(UV) run --frozen python -m chassis.catalogue check $(or $(FILE),$(CATALOGUE_PATH),libs/chassis/src/chassis/catalogue/procedures.yaml)

asyncapi: tools  ## write docs/asyncapi.yaml from the event contract (libs/chassis/src/chassis/events.py)
	@$(UV) run --frozen python -m chassis.asyncapi > docs/asyncapi.yaml.new
	@mv docs/asyncapi.yaml.new docs/asyncapi.yaml

asyncapi-check: $(ASYNCAPI_STAMP)  ## validate docs/asyncapi.yaml with the AsyncAPI CLI
	@ASYNCAPI_METRICS_CONFIG_PATH=$(ASYNCAPI_DIR)/analytics.json \
		$(ASYNCAPI_DIR)/node_modules/.bin/asyncapi validate --fail-severity warn docs/asyncapi.yaml

# The CLI sends usage metrics to its authors unless its settings file says no.
$(ASYNCAPI_STAMP):
	@command -v npm >/dev/null 2>&1 || { echo "asyncapi-check needs Node.js and npm"; exit 1; }
	@echo "installing @asyncapi/cli $(ASYNCAPI_CLI_VERSION) into $(ASYNCAPI_DIR) (once, about a minute)"
	@mkdir -p $(ASYNCAPI_DIR)
	@npm install --prefix $(ASYNCAPI_DIR) --save-exact --no-audit --no-fund --loglevel=error \
		@asyncapi/cli@$(ASYNCAPI_CLI_VERSION)
	@echo '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"hoso"}' \
		> $(ASYNCAPI_DIR)/analytics.json
	@touch $@

openapi: tools  ## write docs/openapi/<service>.json and docs/problems.md from the services' code
	@$(UV) run --frozen python deploy/openapi_dump.py --docs

# The documents as the services serve them, written in-process (no server needed).
openapi-lint: tools $(SPECTRAL_STAMP)  ## lint the four OpenAPI documents with Spectral (.spectral.yaml)
	@out="$$(mktemp -d)" && trap 'rm -rf "$$out"' EXIT && \
		$(UV) run --frozen python deploy/openapi_dump.py --out "$$out" && \
		$(SPECTRAL_DIR)/node_modules/.bin/spectral lint --ruleset .spectral.yaml \
			--fail-severity warn "$$out"/*.json

$(SPECTRAL_STAMP):
	@command -v npm >/dev/null 2>&1 || { echo "openapi-lint needs Node.js and npm"; exit 1; }
	@echo "installing @stoplight/spectral-cli $(SPECTRAL_VERSION) into $(SPECTRAL_DIR) (once)"
	@mkdir -p $(SPECTRAL_DIR)
	@npm install --prefix $(SPECTRAL_DIR) --save-exact --no-audit --no-fund --loglevel=error \
		@stoplight/spectral-cli@$(SPECTRAL_VERSION)
	@touch $@

axe: $(AXE_STAMP)  ## install axe-core (pinned) for the browser tests' accessibility checks

$(AXE_STAMP):
	@command -v npm >/dev/null 2>&1 || { echo "axe needs Node.js and npm"; exit 1; }
	@echo "installing axe-core $(AXE_VERSION) into $(AXE_DIR) (once)"
	@mkdir -p $(AXE_DIR)
	@npm install --prefix $(AXE_DIR) --save-exact --no-audit --no-fund --loglevel=error \
		axe-core@$(AXE_VERSION)
	@touch $@

# promtool from Debian's `prometheus` package (2.42): installed in seconds, where building
# it from the Go module proxy takes six minutes on these machines. The rule syntax and
# `promtool test rules` are the same for the 2.x server docker-compose runs.
prometheus-check:  ## check Prometheus's config and alert rules, run the rules' unit tests
	@command -v promtool >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	@promtool check config deploy/prometheus.yml
	@promtool check rules deploy/prometheus/alerts.yml
	@promtool test rules deploy/prometheus/alerts_test.yml

# Debian packages the tests and the services use: headless Chromium and its WebDriver (the
# browser tests), the DejaVu fonts (Vietnamese PDFs) and hey (the HTTP benchmarks' load).
DEBIAN_PACKAGES := chromium chromium-driver fonts-dejavu-core hey
browser:  ## Debian packages for the browser tests, the PDFs and the benchmarks (root)
	@missing="$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	[ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }

# Intake prints slips and result documents in DejaVu (Vietnamese diacritics).
fonts:  ## Debian's DejaVu fonts, which the services' PDFs embed (root)
	@dpkg -s fonts-dejavu-core >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core; }

typecheck: tools  ## mypy: strict on libs/chassis and every domain/, standard elsewhere
	@$(UV) run --frozen mypy -p chassis -p intake -p processing -p notification -p audit -p workbench
	@$(UV) run --frozen mypy deploy/launcher deploy/local.py

lint: tools
	@$(UV) run --frozen ruff check . && $(UV) run --frozen ruff format --check .

# vegeta offers the budget step's and the capacity sweep's load at an even rate and hands
# back every answer; built once from the Go module proxy into .local/bin (~15 s). The
# stamp names the version, so changing it here builds it again; so does a missing binary.
VEGETA_VERSION := v12.13.0
VEGETA := .local/bin/vegeta
VEGETA_STAMP := .local/bin/.vegeta-$(VEGETA_VERSION)
vegeta: $(VEGETA_STAMP)  ## build the load generator of the budget step and the sweep

.PHONY: vegeta-missing
vegeta-missing: ;
$(VEGETA_STAMP): $(if $(wildcard $(VEGETA)),,vegeta-missing)
	@command -v go >/dev/null 2>&1 || { echo "vegeta needs Go (https://go.dev/dl/)"; exit 1; }
	@echo "building vegeta $(VEGETA_VERSION) into .local/bin (once; downloads Go modules)"
	@mkdir -p $(@D)
	@GOBIN=$(CURDIR)/.local/bin CGO_ENABLED=0 go install -trimpath \
		github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)
	@rm -f $(@D)/.vegeta-v*
	@touch $@
	@echo "vegeta $(VEGETA_VERSION) built: $(VEGETA)"

# BENCH_ARGS: options of bench/perf.py, e.g. BENCH_ARGS=--long or BENCH_ARGS=--quick.
bench: tools $(VEGETA_STAMP)  ## CPU budget per dossier, intake vs bare FastAPI (hey), capacity sweep (vegeta); ~5 min
	@command -v hey >/dev/null 2>&1 || $(MAKE) --no-print-directory browser
	@$(UV) run --frozen python -m bench.perf $(BENCH_ARGS)

bench-alternatives: tools  ## the processing + audit core beside naive and FastStream versions
	@$(UV) run --frozen python -m bench

chaos: tools  ## kill everything under load, then check nothing was lost or duplicated
	@$(UV) run --frozen python -m bench.chaos
