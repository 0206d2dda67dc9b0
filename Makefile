# FedShield: `make demo` runs the embedded default, `make test` runs the suite.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast bench venv clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,he]'
	touch $(STAMP)

venv: $(STAMP)

FS := $(VENV)/bin/fedshield

# The demo grows with the product: train, attack vs. defend, spend a privacy
# budget, aggregate securely, verify the audit ledger, write the compliance reports.
demo: $(STAMP)
	@echo "== 1/6 the embedded default: breast-cancer over 5 hospitals"
	$(FS) simulate --out runs/demo
	@echo "== 2/6 red team: 3 of 10 hospitals malicious, FedAvg vs. FedShield's defense; then membership inference and evasion"
	$(FS) redteam examples/demo/redteam.toml --privacy --out runs/demo-redteam
	@echo "== 3/6 differential privacy: DP-SGD at every hospital, epsilon 3, and its utility cost"
	$(FS) simulate examples/demo/privacy.toml --out runs/demo-dp
	@echo "== 4/6 secure aggregation (SecAgg+): the server unmasks only the sum, same model as step 1"
	$(FS) simulate examples/demo/secure.toml --out runs/demo-secure
	@echo "== 5/6 the tamper-evident audit ledger of run 1"
	$(FS) audit verify runs/demo/ledger.sqlite --public-key runs/demo/coordinator.pub
	@echo "== 6/6 transparency report and privacy impact assessment"
	$(FS) report runs/demo
	$(FS) report runs/demo-dp
	@echo "Open runs/demo/report.html, runs/demo-redteam/scorecard.html, runs/demo-dp/report.html, runs/demo-dp/pia.html"

test: $(STAMP)
	FEDSHIELD_TEST_DATA=$(abspath ../shared/data) $(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf runs .pytest_cache
