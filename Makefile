# Two commands on a fresh machine (README, first section):
#   make run   set up .venv, then show newsbot on its bundled sample articles, or start the Discord bot when
#              DISCORD_TOKEN is set (environment or .env)
#   make test  set up .venv, then run the whole test suite (`make test ARGS="-k ingest"` passes ARGS to pytest)
#   make test-fast  the same, without the tests marked slow (processes, a bot on the Discord double, over ~2 s),
#              on two workers (pytest-xdist)
# Setting up installs only when pyproject.toml changed: the stamp file is named after a hash of its content (not
# its mtime, which every clone and checkout resets). Works from any folder: make -f path/to/Makefile run.

HERE := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
PYTHON ?= python3
VENV ?= $(HERE).venv
BIN := $(VENV)/bin
HASH_PY := import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()[:16])
HASH := $(shell $(PYTHON) -c '$(HASH_PY)' $(HERE)pyproject.toml)
ifeq ($(HASH),)
$(error $(PYTHON) could not read $(HERE)pyproject.toml: install Python 3.11+, or run make PYTHON=/path/to/python3)
endif
STAMP := $(VENV)/.newsbot-installed-$(HASH)

.PHONY: run test test-fast install

run: $(STAMP)
	@if $(BIN)/python -c "from bot.app import configured_token; raise SystemExit(not configured_token())"; then \
	  echo "DISCORD_TOKEN is set: starting the Discord bot (Ctrl-C stops it)"; exec $(BIN)/newsbot bot; fi; \
	$(BIN)/newsbot demo && echo && \
	echo "Next: . $(BIN)/activate, then newsbot ask \"your question\" or newsbot ingest FILES (README)." && \
	echo "With DISCORD_TOKEN in .env, make run starts the Discord bot (README: Discord bot)."

test: $(STAMP)
	cd $(HERE) && $(BIN)/lint-imports --no-logo --no-cache && $(BIN)/python -m pytest $(ARGS)

test-fast: $(STAMP)
	cd $(HERE) && $(BIN)/lint-imports --no-logo --no-cache && $(BIN)/python -m pytest -m "not slow and not llama" -n 2 $(ARGS)

install: $(STAMP)

# A venv whose python cannot run pip (say, python3-venv was missing when it was made) is made again.
$(STAMP):
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv --clear $(VENV)
	cd $(HERE) && $(BIN)/python -m pip install -e ".[dev]"
	rm -f $(VENV)/.newsbot-installed-*
	touch $@
