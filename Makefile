# Each target bootstraps .venv from a bare Python 3.11 itself, so a fresh
# clone needs nothing but `make demo` or `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/wstape demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint chromium
	$(BIN)/pytest

# The HTML report is tested in a real headless browser: Debian's chromium, driven by Playwright
# (never `playwright install`, which downloads a browser build of its own).
chromium:
	@test -x /usr/bin/chromium || { \
		echo "installing chromium (apt-get) for the HTML report test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
