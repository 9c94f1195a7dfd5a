# labgen's tasks. `make test` is what CI runs; `sudo make demo` is the main job.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LABS   := $(patsubst %/lab.yaml,%,$(wildcard labs/*/lab.yaml))
# labgen's own shell: the sandbox (and its runc wrapper), the scripts, CI.
SHELL_FILES := $(shell find sandbox scripts -name '*.sh') sandbox/labgen-runc .ci/run

.PHONY: test unit e2e vm lint demo matrix labs golden web bench bench-class bench-lab bench-vm bench-serve labbox-image clean

$(BIN)/labgen: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## test: lint, type-check, then every test (end-to-end ones skip, saying why, where the machine cannot run them)
test: lint
	$(BIN)/pytest -q

## unit: the fast tests only
unit: $(BIN)/labgen
	$(BIN)/pytest -q -m 'not e2e and not vm'

## e2e / vm: the real-engine / real-VM end-to-end tests alone
e2e: $(BIN)/labgen
	$(BIN)/pytest -q -m e2e
vm: $(BIN)/labgen
	$(BIN)/pytest -q -m vm

lint: $(BIN)/labgen
	$(BIN)/ruff check generator tests bench
	$(BIN)/ruff format --check generator tests bench
	$(BIN)/mypy
	shellcheck -x $(SHELL_FILES)

## demo: the main job: create the default lab, bring it up, check it, take it down
demo: $(BIN)/labgen
	bash scripts/demo.sh

## matrix: regenerate docs/fidelity-matrix.{md,json}: the tutorial on every OS and engine, on the sandboxed engine (root)
matrix: $(BIN)/labgen
	bash scripts/matrix.sh

## labs: re-render the reference labs under labs/ from their lab.yaml
labs: $(BIN)/labgen
	for lab in $(LABS); do $(BIN)/labgen create $$lab/lab.yaml --out $$lab --force; done

## golden: rewrite the golden files of the render tests (review the diff!)
golden: $(BIN)/labgen
	$(BIN)/pytest -q tests/unit/test_golden.py tests/unit/test_class_golden.py --update-golden

## web: refresh the workspace's terminal emulator (committed under generator/labgen/workspace/static/vendor)
## from the npm registry, exactly as web/package-lock.json pins it; needs node and npm (Debian: apt-get install npm)
web:
	cd web && npm ci --ignore-scripts --no-audit --no-fund
	$(PYTHON) scripts/web_assets.py

bench: $(BIN)/labgen
	$(BIN)/python bench/bench_create.py

## bench-class: `labgen class report` for 100 students x 6 goals (no engine needed)
bench-class: $(BIN)/labgen
	$(BIN)/python bench/bench_class_report.py

## bench-lab: up/check/down times on the sandboxed engine (root)
bench-lab: $(BIN)/labgen
	$(BIN)/python bench/bench_lab.py

## bench-serve: `labgen class serve` with 30 terminals (stand-in sshds): keystroke round trip, RSS, idle CPU, login page
bench-serve: $(BIN)/labgen
	$(BIN)/python bench/bench_serve.py terminals --students 30

## bench-vm: the two-VM lab's up/check/re-provision/down times (root, libvirt)
bench-vm: $(BIN)/labgen
	$(BIN)/python bench/bench_vm.py

## labbox-image: a hosted class's lab box for the registry its cluster pulls from (templates/labbox/):
##   make labbox-image REGISTRY=registry.example.org/labgen [SUITE=trixie] [PUSH=1]
SUITE ?= trixie
labbox-image:
	@test -n "$(REGISTRY)" || { echo "make labbox-image: give REGISTRY=host[:port]/path" >&2; exit 2; }
	bash scripts/labbox-image.sh "$(REGISTRY)" "$(SUITE)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
