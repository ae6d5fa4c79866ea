# The two commands a newcomer needs: `make run` (the whole system) and `make test`.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: run stop reset status test test-fast test-containers lint bench chaos screenshot tools

tools:  ## install uv if the machine lacks it
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: tools  ## start Kafka, the store, SMTP, Zipkin and the four services (REPLICAS=2: two of each)
	@$(UV) run --frozen python deploy/local.py up
	@$(UV) run --frozen python deploy/local.py services $(if $(REPLICAS),--replicas $(REPLICAS))

stop: tools  ## stop the services and the infrastructure
	@$(UV) run --frozen python deploy/local.py down --services

reset: tools  ## stop everything and delete its data (downloads are kept)
	@$(UV) run --frozen python deploy/local.py reset

status: tools  ## the operators' table of the live system
	@$(UV) run --frozen python deploy/status.py

screenshot: tools  ## a dossier's trace in the Zipkin UI, to docs/img/trace.png (after `make run`)
	@$(UV) run --frozen python deploy/screenshot.py

test: tools  ## everything: lint, unit, integration, end-to-end, chaos, fuzzing, permissions; then the containers path
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen python deploy/local.py up kafka store zipkin
	@$(UV) run --frozen pytest
	@$(MAKE) --no-print-directory test-containers

test-containers: tools  ## end-to-end tests on Kafka and the store in podman containers (root)
	@exports="$$(bash deploy/containers/setup.sh)" && eval "$$exports" && \
		HOSO_TEST_INFRA=containers $(UV) run --frozen pytest tests/integration/infra tests/e2e/test_pipeline.py

test-fast: tools  ## pure domain tests only, no servers
	@$(UV) run --frozen pytest tests/unit

lint: tools
	@$(UV) run --frozen ruff check . && $(UV) run --frozen ruff format --check .

bench: tools  ## the pipeline beside the alternatives; prints a table
	@$(UV) run --frozen python -m bench

chaos: tools  ## kill everything under load, then check nothing was lost or duplicated
	@$(UV) run --frozen python -m bench.chaos
