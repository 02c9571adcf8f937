# redcore: build, test, install.
#
#   make              the release library (target/release/libredcore.so and .a)
#   make test         everything CI checks (installs missing tools first)
#   make demo         builds and runs the C examples against a throwaway redis-server
#   make install      PREFIX=/usr/local DESTDIR= (run `make` first)
#
# Cargo decides when Rust code is rebuilt; the C programs are small and always rebuilt.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=
CC ?= cc
CARGO ?= cargo

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# The [package] version in Cargo.toml, and its major part (the soname's, see src/build.rs).
VERSION := $(shell awk -F'"' '/^\[/ { pkg = ($$0 == "[package]") } pkg && /^version *=/ { print $$2; exit }' Cargo.toml)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))

TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
RELEASE_DIR := $(abspath $(TARGET_DIR)/release)
LIB_SO := $(RELEASE_DIR)/libredcore.so
LIB_A := $(RELEASE_DIR)/libredcore.a

# What libredcore.a needs from the system, as printed on Debian 12 by
#   cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs
# Refresh it when dependencies change; the static C test below fails if it is incomplete.
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

C_TEST_CFLAGS := -std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude
EXAMPLE_CFLAGS := -std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude
LINK_SHARED := -L$(RELEASE_DIR) -lredcore -Wl,-rpath,$(RELEASE_DIR)

C_TEST_SRCS := $(sort $(wildcard tests/c/*.c))
C_TESTS := $(patsubst tests/c/%.c,build/tests/%,$(C_TEST_SRCS))
# One C test is also linked against libredcore.a, to prove the archive links.
STATIC_TEST_SRC := $(or $(wildcard tests/c/link_static.c),$(firstword $(C_TEST_SRCS)))
STATIC_TEST := $(if $(STATIC_TEST_SRC),$(patsubst tests/c/%.c,build/tests/%-static,$(STATIC_TEST_SRC)))
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLES := $(patsubst examples/%.c,build/examples/%,$(EXAMPLE_SRCS))

WITH_REDIS := tests/tools/with-redis.sh
VALGRIND := valgrind --quiet --leak-check=full \
	--show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99

GO_DIR := bindings/go

.PHONY: all header c-tests examples test lint test-rust test-c test-install test-go \
	install demo clean bench

# Programs linked against the .so ask for its soname, libredcore.so.$(MAJOR) (src/build.rs);
# cargo does not create that name, so it is linked here for the in-tree C tests and examples.
all:
	$(CARGO) build --release
	@ln -sf libredcore.so $(RELEASE_DIR)/libredcore.so.$(MAJOR)

header:
	REDCORE_BLESS=1 $(CARGO) test --test header

# ---- C programs -----------------------------------------------------------------------------

c-tests: $(C_TESTS) $(STATIC_TEST)
	@if [ -z "$(C_TEST_SRCS)" ]; then echo "c-tests: no tests/c/*.c yet"; fi

examples: $(EXAMPLES)
	@if [ -z "$(EXAMPLE_SRCS)" ]; then echo "examples: no examples/*.c yet"; fi

# `all` is phony, so these are rebuilt on every run, after cargo has brought the library up
# to date.
$(C_TESTS) $(STATIC_TEST) $(EXAMPLES): all

build/tests/%: tests/c/%.c
	@mkdir -p $(@D)
	$(CC) $(C_TEST_CFLAGS) $< -o $@ $(LINK_SHARED)

$(STATIC_TEST): $(STATIC_TEST_SRC)
	@mkdir -p $(@D)
	$(CC) $(C_TEST_CFLAGS) $< -o $@ $(LIB_A) $(NATIVE_STATIC_LIBS)

build/examples/%: examples/%.c
	@mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) $< -o $@ $(LINK_SHARED)

# ---- tests ----------------------------------------------------------------------------------

# Each step in order, stopping at the first failure with its name.
test:
	@tests/tools/ensure-deps.sh
	@for step in lint test-rust test-c examples test-install test-go; do \
		echo "==> make $$step"; \
		if ! $(MAKE) --no-print-directory $$step; then \
			echo "make test: FAILED at step '$$step'" >&2; \
			exit 1; \
		fi; \
	done
	@echo "make test: all steps passed"

# Formatting and lints: CI fails on what a reviewer would send back. (The header's freshness
# is a test in tests/header.rs.)
lint:
	@if $(CARGO) fmt --version >/dev/null 2>&1; then $(CARGO) fmt --all -- --check; \
	else echo "lint: rustfmt is not installed; formatting NOT checked" >&2; fi
	@if $(CARGO) clippy --version >/dev/null 2>&1; then $(CARGO) clippy --all-targets -- -D warnings; \
	else echo "lint: clippy is not installed; lints NOT checked" >&2; fi

# Debug build: compiles much faster than the LTO release profile and keeps overflow checks
# and debug assertions on; the C tests below use the release library.
test-rust:
	$(CARGO) test

test-c: c-tests
	@for t in $(C_TESTS) $(STATIC_TEST); do \
		echo "--- $$t"; \
		if ! $(WITH_REDIS) $$t; then \
			echo "test-c: $$t FAILED" >&2; exit 1; \
		fi; \
		echo "--- $$t (valgrind)"; \
		if ! $(WITH_REDIS) $(VALGRIND) $$t; then \
			echo "test-c: $$t FAILED under valgrind (exit 99 = memory errors or leaks)" >&2; \
			exit 1; \
		fi; \
	done

test-install: all
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/redcore-install.XXXXXX"); \
	trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory install PREFIX="$$tmp" DESTDIR= >/dev/null; \
	export PKG_CONFIG_PATH="$$tmp/lib/pkgconfig"; \
	flags=$$(pkg-config --cflags --libs redcore); \
	echo "test-install: pkg-config --cflags --libs redcore: $$flags"; \
	$(CC) $(C_TEST_CFLAGS) tests/tools/install-check.c -o "$$tmp/install-check" $$flags; \
	printed=$$(LD_LIBRARY_PATH="$$tmp/lib" "$$tmp/install-check"); \
	if [ "$$printed" != "$(VERSION)" ]; then \
		echo "test-install: redcore_version() printed '$$printed', expected '$(VERSION)'" >&2; \
		exit 1; \
	fi; \
	if ! readelf -d "$$tmp/lib/libredcore.so" | grep -q 'SONAME.*\[libredcore\.so\.$(MAJOR)\]'; then \
		echo "test-install: installed library lacks soname libredcore.so.$(MAJOR)" >&2; \
		readelf -d "$$tmp/lib/libredcore.so" >&2; \
		exit 1; \
	fi; \
	echo "test-install: ok (version $$printed, soname libredcore.so.$(MAJOR))"

test-go: all
	@if [ ! -f $(GO_DIR)/go.mod ]; then echo "test-go: no $(GO_DIR)/go.mod yet, skipped"; exit 0; fi; \
	export CGO_CFLAGS="-I$(abspath include)"; \
	export CGO_LDFLAGS="$(LINK_SHARED)"; \
	cd $(GO_DIR); \
	go vet ./...; \
	unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "test-go: gofmt would change: $$unformatted" >&2; exit 1; fi; \
	$(abspath $(WITH_REDIS)) go test ./...

# ---- install --------------------------------------------------------------------------------

install:
	@for f in $(LIB_SO) $(LIB_A) include/redcore.h; do \
		[ -f "$$f" ] || { echo "install: $$f is missing; run 'make' first" >&2; exit 1; }; \
	done
	install -d "$(DESTDIR)$(LIBDIR)/pkgconfig" "$(DESTDIR)$(INCLUDEDIR)"
	install -m 755 $(LIB_SO) "$(DESTDIR)$(LIBDIR)/libredcore.so.$(VERSION)"
	ln -sf libredcore.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/libredcore.so.$(MAJOR)"
	ln -sf libredcore.so.$(MAJOR) "$(DESTDIR)$(LIBDIR)/libredcore.so"
	install -m 644 $(LIB_A) "$(DESTDIR)$(LIBDIR)/libredcore.a"
	install -m 644 include/redcore.h "$(DESTDIR)$(INCLUDEDIR)/redcore.h"
	if [ -d include/hiredis ]; then \
		install -d "$(DESTDIR)$(INCLUDEDIR)/hiredis"; \
		install -m 644 include/hiredis/* "$(DESTDIR)$(INCLUDEDIR)/hiredis/"; \
	fi
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS_PRIVATE@|$(NATIVE_STATIC_LIBS)|' \
		tests/tools/redcore.pc.in > "$(DESTDIR)$(LIBDIR)/pkgconfig/redcore.pc"

# ---- the rest -------------------------------------------------------------------------------

demo: all examples
	@tests/tools/ensure-deps.sh redis-server redis-cli
	@if [ -z "$(EXAMPLES)" ]; then echo "demo: there are no examples/*.c yet, nothing to run"; fi
	@for e in $(EXAMPLES); do \
		echo "==> $$e"; \
		$(WITH_REDIS) $$e || { echo "demo: $$e FAILED" >&2; exit 1; }; \
	done

bench:
	@echo "bench: the benchmark suite is not built yet"

clean:
	$(CARGO) clean
	rm -rf build
