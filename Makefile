# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test demo install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start Tansu, SecantusDB, an SMTP sink and the services on 127.0.0.1; Ctrl-C stops them all.
run: $(STAMP)
	$(BIN)/exemplars run

## Publish the demo directory and nominations to a running stack.
demo: $(STAMP)
	$(BIN)/exemplars demo

## The whole suite: unit, integration, end-to-end and fault tests against real servers.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .local .pytest_cache
