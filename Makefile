# Two commands for a fresh machine (see README):
#   make verify   create .venv, install the project, run `python -m theory.verify`
#   make test     create .venv, install the project with test tools, run the test suite
# Both are idempotent: the venv is (re)installed only when pyproject.toml changes.
# Override the torch requirement with e.g.  make test TORCH_SPEC='torch==2.14.1'
PYTHON     ?= python3.11
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed-$(shell printf '%s' '$(TORCH_SPEC)' | md5sum | cut -c1-8)
VERIFY_ARGS ?=
PYTEST_ARGS ?=

.PHONY: verify test install clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,distributed]' '$(TORCH_SPEC)'
	@rm -f $(VENV)/.installed-*
	@echo "$(TORCH_SPEC)" > $(STAMP)

install: $(STAMP)

verify: $(STAMP)
	$(PY) -m theory.verify $(VERIFY_ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# make report: run the experiments the figures need (grid runs, the Fig. 5 convnet runs and the
# Fig. 6 training into the results store, reused when stored; `theory.verify --json` into out/verify.json), then write out/report/ (figures,
# tables/claims.tex, report.html, summary.md).  REPORT_ARGS go to `python -m reports.produce`.
# First, when no CIFAR-10 folder is found (--data order: $CIFAR10_DIR, the user cache, ../shared/data),
# the official archive is downloaded into the user cache and checked (170 MB); when that fails (offline),
# the error is shown and the report is made without Fig. 5-6, as before.
REPORT_ARGS ?=
.PHONY: report
report: $(STAMP)
	-$(PY) -m montecarlo.convnets.data fetch --if-missing
	$(PY) -m reports.produce --results out/verify.json --workers auto $(REPORT_ARGS)
	$(PY) -m reports --results out/verify.json --out out/report --force
