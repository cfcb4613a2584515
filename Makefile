# Headwater — developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests use: git (git daemon, http-backend), sshd, the OCI registry,
# Node.js and npm (for Azurite, the Azure Blob emulator).
APT_PACKAGES := git openssh-server openssh-client docker-registry apache2-utils gnupg openssl nodejs npm
# npm packages the tests use, installed under .tools/node (not on PATH): Azurite.
NODE_DIR := .tools/node
AZURITE_VERSION := 3.35.0
AZURITE := $(NODE_DIR)/node_modules/.bin/azurite-blob
PYTEST_ARGS ?=

.PHONY: setup system-packages lint test fuzz manifests verify clean demo

setup: system-packages $(STAMP) $(AZURITE)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# NB: azurite 3.35 is the newest release whose engines admit Node.js 18 and 20.
$(AZURITE):
	@if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --no-save --prefix $(NODE_DIR) azurite@$(AZURITE_VERSION); \
	else \
	  echo "warning: npm is missing: Azurite (the Azure Blob emulator the tests use) is not installed"; \
	fi

# Installs the Debian packages only when running as root and a tool is missing,
# so `make setup` stays idempotent and works unprivileged on a prepared machine.
system-packages:
	@missing=""; \
	command -v git >/dev/null || missing="$$missing git"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	command -v ssh-keygen >/dev/null || missing="$$missing openssh-client"; \
	command -v docker-registry >/dev/null || test -x /usr/bin/docker-registry || missing="$$missing docker-registry"; \
	command -v htpasswd >/dev/null || missing="$$missing apache2-utils"; \
	command -v gpg >/dev/null && command -v gpgconf >/dev/null || missing="$$missing gnupg"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "warning: missing system tools:$$missing (run 'make setup' as root to install them)"; \
	  fi; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared controllers headwater devcluster tests bench
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The property-based tests of the input parsers (tests/fuzz) with many examples
# each; `make test` runs the same properties with a short budget.
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

# The core GitOps loop, step by step, on a fresh local environment under .headwater/
# (headwater dev up --reset); exits 0 only when every step was verified.
demo: setup
	$(BIN)/python -m headwater.demo

manifests: setup
	$(BIN)/python -m shared.api.crdgen --output crds

verify: manifests
	@if [ -n "$$(git status --porcelain -- crds)" ]; then \
	  echo "crds/ is out of date with shared/api; run 'make manifests' and commit:"; \
	  git status --porcelain -- crds; git --no-pager diff --stat -- crds; exit 1; \
	fi
	@echo "crds/ matches shared/api"

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
