# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test demo docs install clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

install: $(STAMP)

## Start Tansu, SecantusDB, an SMTP sink and the services on 127.0.0.1; Ctrl-C stops them all.
run: $(STAMP)
	$(BIN)/exemplars run

## Play a demo phase on a running stack: directory, nominations, scores, decisions, follow-up (`exemplars demo --help`).
demo: $(STAMP)
	$(BIN)/exemplars demo

## Regenerate the AsyncAPI documents in docs/asyncapi/ from the code (a unit test fails when they drift).
docs: $(STAMP)
	$(BIN)/exemplars docs

# The workspace's browser tests drive the distribution's Chromium (Playwright cannot download
# its own here): installed when missing, which needs root, as on CI.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) (CHROMIUM=path to use another)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

## The whole suite: unit, integration, end-to-end, browser and fault tests against real servers.
test: $(STAMP) $(CHROMIUM)
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS)

## Measure the pipeline on the embedded stack and print each figure beside its target (not a test).
## BENCH_ARGS: e.g. --nominations 300 --out bench.json, or --mongo-uri URI to measure another MongoDB.
bench: $(STAMP)
	$(BIN)/python -m bench.benchmark $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .local .pytest_cache
