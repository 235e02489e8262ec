# Two commands do everything on a fresh machine: `make run` and `make test`.
# Both are idempotent: the second time they neither reinstall nor re-download.
SHELL := /bin/bash
# The Python .venv is made with: 3.11+ (arm64 on Apple silicon), found by scripts/python-env.sh
# among $(PYTHON), python3.13, python3.12, python3.11 and python3; `make PYTHON=/path/to/python3.12`
# picks one.
PYTHON ?=
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SYSTEM_DEPS := $(VENV)/.system-deps
# OpenBLAS for fast CPU matmuls (README.md, "Quick start"; engine/_blas.py); cmake and g++ build the CPU kernels (engine/_native);
# the rest are what Qt needs to draw, even offscreen.
APT_PACKAGES := libopenblas0-pthread cmake g++ libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 \
	libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 \
	libxcb-image0 fonts-dejavu-core fonts-noto-color-emoji
SCREENSHOT_APT := xvfb xauth

.PHONY: run test bench lint model native setup screenshot inspector-screenshots package package-test \
	install-desktop clean

setup: $(INSTALLED) native model

$(SYSTEM_DEPS):
	@mkdir -p $(VENV)
	@bash scripts/system-deps.sh $(APT_PACKAGES)
	@touch $@

$(INSTALLED): pyproject.toml $(SYSTEM_DEPS)
	@PYTHON="$(PYTHON)" bash scripts/python-env.sh venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[test]"
	@touch $@

# The C++ CPU kernels, compiled against the installed MLX. Cheap when up to date (the build is keyed
# by the sources and the MLX version); a failed build is a note, and the engine runs without them.
native: $(INSTALLED)
	@$(PY) -m engine._native.build

model: $(INSTALLED)
	@$(PY) -m engine fetch >/dev/null

run: setup
	$(PY) -m ui

test: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check engine app ui tests
	$(PY) -m pytest -q --durations=40

bench: setup
	$(PY) -m engine bench
	$(PY) -m engine chatbench --turns 10 || true
	QT_QPA_PLATFORM=offscreen $(PY) -m ui.stallbench || true
	@# the bundle: built (minutes, so not in CI: docs/packaging.md), its self-test, its start-up time
	$(MAKE) --no-print-directory package-test
	$(PY) packaging/startup_bench.py --runs 3

screenshot: setup
	@bash scripts/system-deps.sh $(SCREENSHOT_APT)
	$(PY) scripts/screenshot.py docs/screenshot.png

# each Inspector view on a real conversation with the default model (docs/inspector/*.png)
inspector-screenshots: setup
	@bash scripts/system-deps.sh $(SCREENSHOT_APT)
	$(PY) scripts/inspector_screenshots.py docs/inspector

# The desktop bundle (docs/packaging.md): rebuilt when a source changed since the last good build.
# package-test runs the built bundle's --self-test (the default model from the models dir).
BUNDLE_EXE := $(if $(filter Darwin,$(shell uname -s)),dist/Glassbox.app/Contents/MacOS/Glassbox,dist/Glassbox/Glassbox)
BUNDLE_STAMP := dist/.bundle-built
PACKAGE_INPUTS := pyproject.toml $(shell find engine app ui resources packaging -type f -not -name '*.pyc' \
	-not -path 'engine/_native/build/*' 2>/dev/null)
PACKAGING := $(VENV)/.packaging

$(PACKAGING): $(INSTALLED)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[package]"
	@touch $@

$(BUNDLE_STAMP): $(PACKAGE_INPUTS) $(PACKAGING) | native
	PY=$(PY) bash packaging/build.sh

package: $(BUNDLE_STAMP)

package-test: $(BUNDLE_STAMP) | model
	QT_QPA_PLATFORM=offscreen $(BUNDLE_EXE) --self-test

# The built bundle in this user's applications menu (Linux; packaging/install-linux.sh --uninstall removes it)
install-desktop: $(BUNDLE_STAMP)
	bash packaging/install-linux.sh

clean:
	rm -rf $(VENV) build dist *.egg-info engine/_native/build
