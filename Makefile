# Each target bootstraps .venv from a bare Python 3.11 itself, so a fresh
# clone needs nothing but `make demo` or `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench fuzz lint clean chromium

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

# A long fuzz run on purpose (about 7 minutes here, docs/fuzzing.md): the property tests over
# hostile input under the `fuzz` hypothesis profile; a test that hangs fails after 30 minutes.
fuzz: $(STAMP)
	$(BIN)/pytest -m fuzz --hypothesis-profile=fuzz --hypothesis-show-statistics \
		--timeout=1800 -p no:cacheprovider -q

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
