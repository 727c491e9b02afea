# The two commands a newcomer needs: `make run` (the whole system, locally) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/senae-tracking up

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# The portal's tests drive headless Chromium from Debian's packages (installed here when root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium missing: sudo apt-get install chromium" >&2; exit 1; fi; }

test: lint browser
	$(BIN)/pytest -p no:cacheprovider -q

clean:
	rm -rf $(VENV) .senae-data senae-tracking.db
