# The two quick-start commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-test docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e .

install-test: install
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"

demo: install
	$(BIN)/polymodal demo

test: install-test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

docs: install
	$(BIN)/pip install --quiet -c constraints.txt -e ".[docs]"
	-$(BIN)/python scripts/fetch_mathjax.py
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) runs reports
