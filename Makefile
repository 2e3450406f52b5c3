# Two commands set everything up on a fresh machine:
#   make demo   - creates .venv, installs CLAIM, runs `claim demo` on the embedded phantom cohort
#   make test   - creates .venv, installs CLAIM with its test extras, runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned, so that nothing pulls a multi-GB CUDA build by accident.
# GPU users: make TORCH_SPEC="torch==2.13.0 torchvision==0.28.0" TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0 torchvision==0.28.0
TORCH_INDEX ?=
DEMO_OUT ?= demo_out

.PHONY: install demo test clean

$(BIN)/.claim-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_INDEX) $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

install: $(BIN)/.claim-installed

demo: install
	$(BIN)/claim demo --out $(DEMO_OUT) --overwrite

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
