# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install rules demo demo-web test lint bench browser mailserver clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# Old pip (23.x) backtracks for minutes on this dependency set: upgrade it first.
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# KoSIT's XRechnung configuration as a rule pack, from ../shared/rulepacks when it is there
# (development machines). Elsewhere: einvoice rules install <official release zip> (README).
RULEPACK_DIR ?= $(or $(EINVOICE_RULEPACK_DIR),var/rulepacks)
rules: install
	@if [ -d ../shared/rulepacks ]; then \
	  for p in ../shared/rulepacks/*/; do \
	    [ -f "$$p/scenarios.xml" ] || continue; \
	    id=$$(basename "$$p"); \
	    if [ -d "$(RULEPACK_DIR)/$$id" ]; then echo "rule pack $$id already installed"; \
	    else $(BIN)/python -m einvoice.cli rules install "$$p" --dir "$(RULEPACK_DIR)"; fi; \
	  done; \
	else echo "no ../shared/rulepacks here: validation uses the built-in rules (see README, Official rule packs)"; fi

demo: install rules
	$(BIN)/python -m flows.demo

# The demo, then the web inbox on http://127.0.0.1:8000/ over its data until Ctrl-C.
demo-web: install rules
	$(BIN)/python -m flows.demo --serve 8000

# Guardrails: ruff (E, F, I, B), the import contracts in .importlinter, mypy on archive/.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/archive.py

# Headless Chromium for the web inbox's end-to-end tests (Debian packages; no browser download).
browser:
	command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium chromium-driver)

# Dovecot IMAP server for the e-mail intake tests (Debian package; the tests start their own
# instance on loopback with a config in a temp dir and skip with a reason when it is missing).
mailserver:
	command -v dovecot >/dev/null 2>&1 || test -x /usr/sbin/dovecot || (apt-get update && apt-get install -y dovecot-imapd)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
