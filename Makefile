# Each target bootstraps .venv itself, from python3.11 if there is one and else python3,
# so a fresh clone needs nothing but `make demo` or `make test`. Python 3.11 installs
# mitmproxy 11.0.2, and 3.12 or later mitmproxy 12 (pyproject.toml). The suite on another
# interpreter runs in a venv of its own, as the second leg of .ci/run does:
#   make test PYTHON=python3.12 VENV=.venv-3.12
# (A pyenv shim answers only for a selected version: python3.11 must run, not merely exist.)
PYTHON ?= $(shell python3.11 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)
VENV ?= .venv
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
	@$(BIN)/python -c 'import sys, mitmproxy.version as m; \
		print(f"testing on Python {sys.version.split()[0]}, mitmproxy {m.VERSION} ($(VENV))")'
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
	rm -rf $(VENV) .venv-* .pytest_cache *.egg-info
