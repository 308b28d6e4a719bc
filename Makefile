# make demo  - run the UPF on a self-contained namespace topology and show it working
# make test  - build everything and run the whole test suite (lint, types, unit, kernel)
# Both install what they need on a fresh Debian bookworm machine (run as root).

SHELL := /bin/bash
PY    := .venv/bin/python
CLANG ?= clang
ARCH_INC := /usr/include/$(shell uname -m)-linux-gnu
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -I xdp -I $(ARCH_INC)

APT_PKGS := clang llvm libbpf-dev libbpf1 bpftool iproute2 tshark ethtool tcpdump \
            python3-venv python3-dev linux-libc-dev
XDP_SRC  := $(wildcard xdp/*.c xdp/bench/*.c)
XDP_HDR  := $(wildcard xdp/*.h xdp/*/*.h)
XDP_OBJ  := $(patsubst xdp/%.c,build/xdp/%.o,$(XDP_SRC))

.PHONY: all deps apt venv bpf test lint typecheck unit demo fuzz bench clean abi

all: bpf

deps: apt venv

# apt: only when something is missing, so repeated runs stay fast.
apt:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: .venv/.installed

.venv/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

bpf: $(XDP_OBJ)

build/xdp/%.o: xdp/%.c $(XDP_HDR)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Regenerate the Python mirror of xdp/upf_shared.h from the object's BTF.
abi: deps bpf
	$(PY) -m upf.datapath.abigen build/xdp/upf.o > upf/datapath/abi.py

lint: deps
	$(PY) -m ruff check upf pfcp control benchmarks tests
	$(PY) -m mypy

typecheck: lint

unit: deps bpf
	$(PY) -m pytest -q -p no:cacheprovider tests

test: deps bpf lint
	$(PY) -m pytest -q -p no:cacheprovider tests

demo: deps bpf
	$(PY) -m upf demo

# The long fuzz run of the PFCP decoder (issue: at least 1,000,000 mutated messages).
fuzz: deps
	$(PY) -m tests.pfcp.fuzz --iterations 1000000

bench: deps bpf
	$(PY) -m benchmarks.datapath --json
	$(PY) -m benchmarks.datapath --json --sessions 1000000 --flows 256
	$(PY) -m benchmarks.live --json
	$(PY) -m benchmarks.pfcp_codec --json
	$(PY) -m benchmarks.pfcp_sessions --json

clean:
	rm -rf build
