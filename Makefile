# redcore: build, test, install.
#
#   make              the release library (target/release/libredcore.so and .a)
#   make test         everything CI checks (installs missing tools first)
#   make demo         builds and runs the C examples against a throwaway redis-server
#   make bench        the benchmark suite against the peers (QUICK=1 for a fast check)
#   make install      PREFIX=/usr/local DESTDIR= (run `make` first; MINIMAL=1: the minimal build)
#   make minimal      the library without TLS (target/minimal/release), for small static links
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
# `make minimal`: the library without the `tls` feature. `make install MINIMAL=1` installs it
# in place of the full one (same names, same header; libhiredis stays the full build).
MINIMAL_DIR := $(abspath $(TARGET_DIR)/minimal/release)
IS_MINIMAL := $(filter 1 yes true,$(MINIMAL))
# A stripped program linking the minimal libredcore.a with --gc-sections stays within this
# (issue 16 asked for 1.5 MB; with TLS the same program is about 2.8 MB).
MINIMAL_MAX_BYTES := 1500000
# hiredis's own sync test on our libhiredis.a, linked without --gc-sections (as most build
# systems link) and stripped, stays within this (2.0 MB; 4.5 MB before the archives were
# prelinked, 0.14 MB on hiredis's).
HIREDIS_STATIC_MAX_BYTES := 2500000
RELEASE_DIR := $(abspath $(TARGET_DIR)/release)
LIB_SO := $(RELEASE_DIR)/libredcore.so
LIB_A := $(RELEASE_DIR)/libredcore.a

# The static archives as C programs link them. cargo's archive carries every crate's object
# whole (the standard library's, rustls's, ...), and a link without -Wl,--gc-sections (the
# default of most build systems, Redis's Makefile among them) copies in full each object a
# program touches: 4.5 MB for hiredis's hello. So each archive is prelinked into one object
# that holds only what the library's exported functions reach (ld -r --gc-sections), each
# function still in its own section (--unique), so that a link with --gc-sections still drops
# what the program does not reach. Every other symbol is made local, and the object is made
# self-contained, so that a program can link it beside our other archive or another Rust static
# library: no COMDAT groups (a group of the same name in another object would be kept in place
# of ours, and our unwinding tables would point into a discarded section), and no undefined
# names that only the dropped code used (which would become strong references: fork, execvp,
# pidfd_spawnp, ...). The LLVM bitcode rustc embeds is left out (GNU ar fails on it when an
# older LLVM's linker plugin is installed).
# $(call PRELINK,archive,output,command printing the exported names); the output may be the
# archive itself, and an archive already prelinked is left as it is.
PRELINKED := redcore-prelinked.o
define PRELINK
if ar t $(1) | grep -qx $(PRELINKED) && [ $(1) = $(2) ]; then exit 0; fi; \
tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && mkdir "$$tmp/in" "$$tmp/out" && \
if [ -n "$$(ar t $(1) | sort | uniq -d)" ]; then \
	echo "prelink: $(1) has two members of one name" >&2; exit 1; fi && \
(cd "$$tmp/in" && ar x $(1)) && $(3) > "$$tmp/exports" && \
{ [ -s "$$tmp/exports" ] || { echo "prelink: no exported names for $(1)" >&2; exit 1; }; } && \
ld -r --gc-sections --unique $$(sed 's/^/-u /' "$$tmp/exports") -o "$$tmp/out/$(PRELINKED)" "$$tmp"/in/* && \
readelf -sW "$$tmp/out/$(PRELINKED)" | \
	awk '$$5 == "LOCAL" && $$7 == "UND" && $$8 != "" { print $$8 }' > "$$tmp/unused" && \
objcopy --remove-section=.llvmbc --remove-section=.llvmcmd --remove-section=.group \
	--strip-unneeded-symbols="$$tmp/unused" \
	--keep-global-symbols="$$tmp/exports" "$$tmp/out/$(PRELINKED)" && \
rm -f $(2).tmp && ar rcs $(2).tmp "$$tmp/out/$(PRELINKED)" && mv $(2).tmp $(2)
endef
# The names a shared library exports, one per line.
EXPORTS_OF = nm -D --defined-only $(1) | cut -d' ' -f3

# What libredcore.a needs from the system, as printed on Debian 12 by
#   cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs
# Refresh it when dependencies change; the static C test below fails if it is incomplete.
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
# The same as a CMake list, for the CMake package's redcore::redcore_static.
SPACE := $(subst ,, )
CMAKE_STATIC_LIBS := $(subst $(SPACE),;,$(patsubst -l%,%,$(NATIVE_STATIC_LIBS)))

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

# The C++ tests (tests/cpp/*.cpp: redcore.h compiled as C++, and include/redcore.hpp),
# built with each compiler below.
CXX_COMPILERS := g++ clang++
CXX_TEST_FLAGS := -std=c++17 -Wall -Wextra -Wpedantic -Werror -g -Iinclude
CXX_TEST_SRCS := $(sort $(wildcard tests/cpp/*.cpp))

WITH_REDIS := tests/tools/with-redis.sh
WITH_CLUSTER := tests/tools/with-cluster.sh
WITH_SENTINEL := tests/tools/with-sentinel.sh
VALGRIND := valgrind --quiet --leak-check=full --suppressions=tests/tools/valgrind.supp \
	--show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99

GO_DIR := bindings/go

# The hiredis-compatible library (src/compat/hiredis): the same crate built with the `hiredis`
# feature, in its own target dir. The shared libraries are linked from cargo's archive there
# (below), and libhiredis.a is that archive prelinked for hiredis's API (PRELINK above).
HIREDIS_DIR := $(abspath $(TARGET_DIR)/hiredis)/release
HIREDIS_SO := $(HIREDIS_DIR)/libhiredis.so
HIREDIS_A := $(HIREDIS_DIR)/libhiredis.a
# The hiredis release whose API include/hiredis declares (hiredis.pc's Version).
HIREDIS_VERSION := 1.5.0
# One file per ABI, as hiredis's sonames promise (src/compat/hiredis/abi.c): hiredis 1.5's
# soname (HIREDIS_SONAME in include/hiredis/hiredis.h), reading 1.5's layouts, what programs
# built with our headers link to (through libhiredis.so and libhiredis.so.1, which hiredis's
# CMake install also makes); and hiredis 1.2's (what distributions ship), reading the layouts
# of 1.2 to 1.4, which 1.3's and 1.4's sonames name too.
HIREDIS_SONAME := libhiredis.so.$(shell sed -n 's/^\#define HIREDIS_SONAME //p' include/hiredis/hiredis.h)
HIREDIS_OLD_SONAME := libhiredis.so.1.1.0
HIREDIS_OLD_ALIASES := libhiredis.so.1.3.0 libhiredis.so.1.4.0
HIREDIS_MAJOR_LINK := libhiredis.so.1
# Both are linked from the archive with the names the crate's own cdylib exports (and no
# others), the old one with abi_1_2.c's layout choice in front.
HIREDIS_LINK_SHARED = rm -f $@ && $(CC) -shared -o $@ -Wl,-soname,$(notdir $@) $(1) \
	-Wl,--whole-archive $(HIREDIS_DIR)/libredcore.a -Wl,--no-whole-archive \
	-Wl,--version-script=$(HIREDIS_DIR)/hiredis.map -Wl,--gc-sections -Wl,--strip-debug -Wl,-O1 \
	$(NATIVE_STATIC_LIBS)
# Programs written for hiredis, built with our headers only (as `pkg-config --cflags hiredis`
# gives them) and linked to our libhiredis. A `/* LIBS: ... */` line in a test adds libraries,
# a `/* PKGS: ... */` line pkg-config packages (cflags and libs).
HIREDIS_CFLAGS := -std=c11 -Wall -Wextra -Wpedantic -Werror -g -D_POSIX_C_SOURCE=200809L \
	-Iinclude/hiredis -Iinclude
HIREDIS_LINK := -L$(HIREDIS_DIR) -lhiredis -Wl,-rpath,$(HIREDIS_DIR)
HIREDIS_TEST_SRCS := $(sort $(wildcard tests/hiredis/*.c))
HIREDIS_TESTS := $(patsubst tests/hiredis/%.c,build/hiredis-tests/%,$(HIREDIS_TEST_SRCS))
HIREDIS_STATIC_TEST := build/hiredis-tests/sync_test-static

.PHONY: all header c-tests examples test lint test-rust test-c test-install test-go \
	test-cpp test-swift install demo clean bench hiredis-tests test-hiredis-c test-hiredis \
	asan miri fuzz soak hiredis-shared minimal test-minimal

# Programs linked against the .so ask for its soname, libredcore.so.$(MAJOR) (src/build.rs);
# cargo does not create that name, so it is linked here for the in-tree C tests and examples.
all:
	$(CARGO) build --release
	@ln -sf libredcore.so $(RELEASE_DIR)/libredcore.so.$(MAJOR)
	@$(call PRELINK,$(LIB_A),$(LIB_A),$(call EXPORTS_OF,$(LIB_SO)))
	$(CARGO) build --release --features hiredis --target-dir $(abspath $(TARGET_DIR)/hiredis)
	@$(MAKE) --no-print-directory hiredis-shared

# The two shared libraries of the hiredis-compatible build, and the names hiredis installs
# (libhiredis.so and libhiredis.so.1 lead to HIREDIS_SONAME's file, 1.3's and 1.4's sonames to
# 1.2's), in the target dir as `make install` puts them.
hiredis-shared: $(HIREDIS_DIR)/$(HIREDIS_SONAME) $(HIREDIS_DIR)/$(HIREDIS_OLD_SONAME)
	@ln -sf $(HIREDIS_SONAME) $(HIREDIS_DIR)/$(HIREDIS_MAJOR_LINK)
	@ln -sf $(HIREDIS_MAJOR_LINK) $(HIREDIS_SO)
	@for alias in $(HIREDIS_OLD_ALIASES); do ln -sf $(HIREDIS_OLD_SONAME) $(HIREDIS_DIR)/$$alias; done
	@[ ! -L $(HIREDIS_A) ] || rm -f $(HIREDIS_A)
	@if [ ! -f $(HIREDIS_A) ] || [ $(HIREDIS_DIR)/libredcore.a -nt $(HIREDIS_A) ] || \
		[ Makefile -nt $(HIREDIS_A) ]; then \
		$(call PRELINK,$(HIREDIS_DIR)/libredcore.a,$(HIREDIS_A),$(call EXPORTS_OF,$(HIREDIS_DIR)/libredcore.so) | grep -v '^redcore_'); fi

$(HIREDIS_DIR)/hiredis.map: $(HIREDIS_DIR)/libredcore.so
	nm -D --defined-only $< | awk 'BEGIN { print "{ global:" } { print "    " $$3 ";" } END { print "  local: *;\n};" }' > $@

$(HIREDIS_DIR)/$(HIREDIS_SONAME): $(HIREDIS_DIR)/libredcore.a $(HIREDIS_DIR)/hiredis.map
	$(call HIREDIS_LINK_SHARED,)

$(HIREDIS_DIR)/$(HIREDIS_OLD_SONAME): $(HIREDIS_DIR)/libredcore.a $(HIREDIS_DIR)/hiredis.map src/compat/hiredis/abi_1_2.c
	$(CC) -c -fPIC -Wall -Wextra -Werror src/compat/hiredis/abi_1_2.c -o $(HIREDIS_DIR)/abi_1_2.o
	$(call HIREDIS_LINK_SHARED,$(HIREDIS_DIR)/abi_1_2.o)

minimal:
	$(CARGO) build --release --lib --no-default-features --target-dir $(abspath $(TARGET_DIR)/minimal)
	@ln -sf libredcore.so $(MINIMAL_DIR)/libredcore.so.$(MAJOR)
	@$(call PRELINK,$(MINIMAL_DIR)/libredcore.a,$(MINIMAL_DIR)/libredcore.a,$(call EXPORTS_OF,$(MINIMAL_DIR)/libredcore.so))

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

hiredis-tests: $(HIREDIS_TESTS) $(HIREDIS_STATIC_TEST)

$(HIREDIS_TESTS) $(HIREDIS_STATIC_TEST): all

# The system may have hiredis's own headers (e.g. /usr/include/hiredis): refuse to build if
# anything but ours was picked up.
build/hiredis-tests/%: tests/hiredis/%.c
	@mkdir -p $(@D)
	@pkgs=$$(sed -n 's|^/\* PKGS: \(.*\) \*/$$|\1|p' $<); \
	pkg_cflags=$$([ -z "$$pkgs" ] || pkg-config --cflags $$pkgs); \
	pkg_libs=$$([ -z "$$pkgs" ] || pkg-config --libs $$pkgs); \
	if $(CC) $(HIREDIS_CFLAGS) $$pkg_cflags -M $< | tr ' ' '\n' | grep -q '^/usr/.*/hiredis/'; then \
		echo "$<: includes a system hiredis header instead of include/hiredis" >&2; exit 1; fi; \
	echo "$(CC) $(HIREDIS_CFLAGS) $$pkg_cflags $< -o $@ $(HIREDIS_LINK) ..."; \
	$(CC) $(HIREDIS_CFLAGS) $$pkg_cflags $< -o $@ $(HIREDIS_LINK) \
		$$(sed -n 's|^/\* LIBS: \(.*\) \*/$$|\1|p' $<) $$pkg_libs

$(HIREDIS_STATIC_TEST): tests/hiredis/sync_test.c
	@mkdir -p $(@D)
	$(CC) $(HIREDIS_CFLAGS) $< -o $@ $(HIREDIS_A) $(NATIVE_STATIC_LIBS)

# ---- tests ----------------------------------------------------------------------------------

# Each step in order, stopping at the first failure with its name.
test:
	@tests/tools/ensure-deps.sh
	@for step in lint test-rust test-c examples test-cpp test-swift test-hiredis-c test-hiredis test-install test-minimal test-go; do \
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
	@if $(CARGO) clippy --version >/dev/null 2>&1; then $(CARGO) clippy --all-targets -- -D warnings && \
		$(CARGO) clippy --all-targets --features hiredis -- -D warnings && \
		$(CARGO) clippy --all-targets --no-default-features -- -D warnings; \
	else echo "lint: clippy is not installed; lints NOT checked" >&2; fi

# Debug build: compiles much faster than the LTO release profile and keeps overflow checks
# and debug assertions on; the C tests below use the release library.
test-rust:
	$(CARGO) test
	$(CARGO) test --features hiredis --lib compat
	$(CARGO) test --lib --no-default-features
	REDCORE_SOAK_SECS=60 $(CARGO) test --test soak -- --ignored --nocapture

# The cluster example is the C test of a cluster client: against a 3+3 cluster that
# with-cluster.sh starts (plainly and under valgrind, in one cluster); the sentinel example
# likewise against the master, replicas and sentinels that with-sentinel.sh starts (a fresh
# topology each run: the example fails the master over).
test-c: c-tests build/examples/cluster build/examples/sentinel
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
	@echo "--- build/examples/cluster (and under valgrind)"
	@$(WITH_CLUSTER) bash -c 'build/examples/cluster >/dev/null && $(VALGRIND) build/examples/cluster >/dev/null' \
		|| { echo "test-c: build/examples/cluster FAILED (exit 99 under valgrind = memory errors or leaks)" >&2; exit 1; }
	@echo "--- build/examples/sentinel (and under valgrind)"
	@$(WITH_SENTINEL) build/examples/sentinel >/dev/null \
		|| { echo "test-c: build/examples/sentinel FAILED" >&2; exit 1; }
	@$(WITH_SENTINEL) $(VALGRIND) build/examples/sentinel >/dev/null \
		|| { echo "test-c: build/examples/sentinel FAILED under valgrind (exit 99 = memory errors or leaks)" >&2; exit 1; }

# The C++ face: redcore.h as C++ and the header-only wrapper include/redcore.hpp, each test
# built with g++ and clang++ and run against a throwaway server (the g++ builds also under
# valgrind).
test-cpp: all
	@for cxx in $(CXX_COMPILERS); do \
		for src in $(CXX_TEST_SRCS); do \
			exe=build/cpp-tests/$$(basename $$src .cpp)-$$cxx; \
			mkdir -p build/cpp-tests; \
			echo "--- $$exe"; \
			$$cxx $(CXX_TEST_FLAGS) $$src -o $$exe $(LINK_SHARED); \
			if ! $(WITH_REDIS) $$exe; then echo "test-cpp: $$exe FAILED" >&2; exit 1; fi; \
			if [ $$cxx = g++ ] && ! $(WITH_REDIS) $(VALGRIND) $$exe; then \
				echo "test-cpp: $$exe FAILED under valgrind (exit 99 = memory errors or leaks)" >&2; \
				exit 1; \
			fi; \
		done; \
	done

# The Swift package (bindings/swift) cannot be compiled here (no Swift toolchain): its module
# map is checked instead, by importing the module with clang's modules from C, as Swift
# would import it.
test-swift: all
	@tests/tools/swift-modulemap-check.sh

# The hiredis-compatible library with C programs written against hiredis's documented API.
test-hiredis-c: hiredis-tests
	@for t in $(HIREDIS_TESTS) $(HIREDIS_STATIC_TEST); do \
		echo "--- $$t"; \
		if ! $(WITH_REDIS) $$t; then \
			echo "test-hiredis-c: $$t FAILED" >&2; exit 1; \
		fi; \
		echo "--- $$t (valgrind)"; \
		if ! $(WITH_REDIS) $(VALGRIND) $$t; then \
			echo "test-hiredis-c: $$t FAILED under valgrind (exit 99 = memory errors or leaks)" >&2; \
			exit 1; \
		fi; \
	done
	@tests/tools/hiredis-adapters-check.sh

# Fidelity: hiredis's own test suite (test.c of the hiredis 1.5.0 vendored by PyPI's hiredis
# 3.5.0 sdist, fetched with pip into build/, never committed) built against include/hiredis
# and our libhiredis, against the servers it expects.
test-hiredis: all
	@tests/tools/hiredis-test.sh

# The prefix is the same every run: the Go build cache keeps the -L path pkg-config gave it,
# and a fresh temp dir each time left it pointing at a removed one.
test-install: all
	@tmp=$(abspath build/install-check); \
	rm -rf "$$tmp"; mkdir -p "$$tmp"; \
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
	echo "test-install: ok (version $$printed, soname libredcore.so.$(MAJOR))"; \
	flags=$$(pkg-config --cflags --libs hiredis); \
	echo "test-install: pkg-config --cflags --libs hiredis: $$flags"; \
	$(CC) $(C_TEST_CFLAGS) tests/tools/hiredis-install-check.c -o "$$tmp/hiredis-install-check" $$flags; \
	printed=$$(LD_LIBRARY_PATH="$$tmp/lib" "$$tmp/hiredis-install-check"); \
	if [ "$$printed" != "hiredis $(HIREDIS_VERSION) on redcore" ]; then \
		echo "test-install: hiredis-install-check printed '$$printed'" >&2; exit 1; \
	fi; \
	for name in libhiredis.so libhiredis.so.1 libhiredis_ssl.so libhiredis_ssl.so.1; do \
		if ! readelf -d "$$tmp/lib/$$name" | grep -q 'SONAME.*\[$(HIREDIS_SONAME)\]'; then \
			echo "test-install: installed $$name lacks soname $(HIREDIS_SONAME) (HIREDIS_SONAME)" >&2; exit 1; \
		fi; \
	done; \
	if ! readelf -d "$$tmp/lib/libhiredis.so.1.3.0" | grep -q 'SONAME.*\[$(HIREDIS_OLD_SONAME)\]'; then \
		echo "test-install: libhiredis.so.1.3.0 does not lead to the file of $(HIREDIS_OLD_SONAME)" >&2; exit 1; \
	fi; \
	if readelf --dyn-syms -W "$$tmp/lib/libredcore.so" | grep -qw redisConnect; then \
		echo "test-install: libredcore.so exports hiredis symbols (redisConnect)" >&2; exit 1; \
	fi; \
	tests/tools/hiredis-abi-test.sh "$$tmp/lib"; \
	ssl_flags=$$(pkg-config --cflags --libs hiredis_ssl); \
	echo "test-install: pkg-config --cflags --libs hiredis_ssl: $$ssl_flags"; \
	printf '#include <hiredis.h>\n#include <hiredis_ssl.h>\nint main(void) { return redisInitOpenSSL(); }\n' \
		> "$$tmp/ssl-check.c"; \
	$(CC) $(C_TEST_CFLAGS) "$$tmp/ssl-check.c" -o "$$tmp/ssl-check" $$ssl_flags; \
	LD_LIBRARY_PATH="$$tmp/lib" "$$tmp/ssl-check" || { echo "test-install: hiredis_ssl check failed" >&2; exit 1; }; \
	echo "test-install: ok (hiredis $(HIREDIS_VERSION) API, soname $(HIREDIS_SONAME); hiredis 1.2's ABI as $(HIREDIS_OLD_SONAME) $(HIREDIS_OLD_ALIASES))"; \
	cmake -S examples/cmake -B "$$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$$tmp" \
		-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_CXX_COMPILER=g++ >/dev/null; \
	cmake --build "$$tmp/cmake-build" >/dev/null; \
	for exe in greet greet_static; do \
		printed=$$($(WITH_REDIS) sh -c '"$$0" "$$REDCORE_TEST_URL"' "$$tmp/cmake-build/$$exe"); \
		case "$$printed" in "hello from CMake (redcore $(VERSION))") ;; \
		*) echo "test-install: examples/cmake's $$exe printed '$$printed'" >&2; exit 1 ;; esac; \
	done; \
	echo "test-install: ok (find_package(redcore) and redcore::redcore, redcore::redcore_static from examples/cmake)"; \
	if [ -f $(GO_DIR)/go.mod ]; then \
		(cd $(GO_DIR) && LD_LIBRARY_PATH="$$tmp/lib" go test -count=1 -tags redcore_pkgconfig -run 'TestTaxonomy|TestTypedHelpers' . >/dev/null) || \
			{ echo "test-install: the Go binding does not build and run against the installed redcore (pkg-config)" >&2; exit 1; }; \
		echo "test-install: ok (the Go binding with -tags redcore_pkgconfig, linked to the installed library)"; \
	fi

# The Go binding (bindings/go): vet, gofmt, and its tests with the race detector, against
# redis-servers the tests start themselves and, for TestCluster and TestSentinel, the cluster
# with-cluster.sh and the master, replicas and sentinels with-sentinel.sh start. The package
# links the static library `all` built (its default build; `-tags redcore_pkgconfig` links an
# installed one, see test-install).
test-go: all
	@if [ ! -f $(GO_DIR)/go.mod ]; then echo "test-go: no $(GO_DIR)/go.mod yet, skipped"; exit 0; fi; \
	export CGO_LDFLAGS="-L$(RELEASE_DIR)"; \
	cd $(GO_DIR); \
	go vet ./...; \
	unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "test-go: gofmt would change: $$unformatted" >&2; exit 1; fi; \
	$(abspath $(WITH_CLUSTER)) $(abspath $(WITH_SENTINEL)) go test -race -count=1 ./...

# ---- reliability -----------------------------------------------------------------------------

# The C tests, the hiredis-API tests and the examples built with AddressSanitizer and
# UndefinedBehaviorSanitizer (any report fails the run; leaks too), linked to the release
# libraries, each run against a throwaway server (the cluster example against a cluster).
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=98 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ASAN_C_TESTS := $(patsubst tests/c/%.c,build/asan/tests/%,$(C_TEST_SRCS))
ASAN_EXAMPLES := $(patsubst examples/%.c,build/asan/examples/%,$(EXAMPLE_SRCS))
ASAN_HIREDIS_TESTS := $(patsubst tests/hiredis/%.c,build/asan/hiredis-tests/%,$(HIREDIS_TEST_SRCS))

$(ASAN_C_TESTS) $(ASAN_EXAMPLES) $(ASAN_HIREDIS_TESTS): all

build/asan/tests/%: tests/c/%.c
	@mkdir -p $(@D)
	$(CC) $(C_TEST_CFLAGS) $(ASAN_FLAGS) $< -o $@ $(LINK_SHARED)

build/asan/examples/%: examples/%.c
	@mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) $(ASAN_FLAGS) $< -o $@ $(LINK_SHARED)

build/asan/hiredis-tests/%: tests/hiredis/%.c
	@mkdir -p $(@D)
	pkgs=$$(sed -n 's|^/\* PKGS: \(.*\) \*/$$|\1|p' $<); \
	$(CC) $(HIREDIS_CFLAGS) $(ASAN_FLAGS) $$([ -z "$$pkgs" ] || pkg-config --cflags $$pkgs) \
		$< -o $@ $(HIREDIS_LINK) $$(sed -n 's|^/\* LIBS: \(.*\) \*/$$|\1|p' $<) \
		$$([ -z "$$pkgs" ] || pkg-config --libs $$pkgs)

asan: $(ASAN_C_TESTS) $(ASAN_EXAMPLES) $(ASAN_HIREDIS_TESTS)
	@tests/tools/ensure-deps.sh redis-server redis-sentinel redis-cli
	@for t in $^; do \
		echo "--- $$t (ASan + UBSan)"; \
		case $$t in \
		*/cluster) with=$(WITH_CLUSTER) ;; \
		*/sentinel) with=$(WITH_SENTINEL) ;; \
		*) with=$(WITH_REDIS) ;; \
		esac; \
		if ! env $(ASAN_ENV) $$with $$t; then \
			echo "asan: $$t FAILED (exit 98 = a sanitizer report)" >&2; exit 1; \
		fi; \
	done
	@echo "asan: all clean"

# Unsafe Rust under Miri: the decoder and the reply layer (resp), and the exchange. Needs a
# nightly toolchain with the miri component (added with rustup when missing). A reply keeps
# its pointers as integers in its node table, so Miri runs with permissive provenance (it
# then checks every access against the allocation the integer came from, but may miss a
# pointer forged from an integer that was never a pointer). Tests that move megabytes are
# skipped under Miri (`cfg_attr(miri, ignore)`).
MIRI_TESTS := resp:: session::exchange::
miri:
	@rustup component add --toolchain nightly miri rust-src >/dev/null 2>&1 || true
	@if ! cargo +nightly miri --version >/dev/null 2>&1; then \
		echo "miri: needs 'rustup toolchain install nightly --component miri rust-src'; NOT run" >&2; \
		exit 1; \
	fi
	@for filter in $(MIRI_TESTS); do \
		MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance" \
			cargo +nightly miri test --lib $$filter || exit 1; \
	done

# Each fuzz target of fuzz/ for FUZZ_SECONDS (default 60; issue 15 asks 600 before a
# release), one after another; prints execution counts (tests/tools/fuzz.sh).
FUZZ_SECONDS ?= 60
fuzz:
	tests/tools/fuzz.sh $(FUZZ_SECONDS)

# The soak with faults (tests/soak.rs) for SOAK_SECONDS, default 10 minutes; `make test` runs
# it for 60 s.
SOAK_SECONDS ?= 600
soak:
	@tests/tools/ensure-deps.sh redis-server redis-cli
	REDCORE_SOAK_SECS=$(SOAK_SECONDS) $(CARGO) test --test soak -- --ignored --nocapture

# ---- install --------------------------------------------------------------------------------

install: LIB_SO := $(if $(IS_MINIMAL),$(MINIMAL_DIR)/libredcore.so,$(LIB_SO))
install: LIB_A := $(if $(IS_MINIMAL),$(MINIMAL_DIR)/libredcore.a,$(LIB_A))
install:
	@for f in $(LIB_SO) $(LIB_A) include/redcore.h $(HIREDIS_DIR)/$(HIREDIS_SONAME) $(HIREDIS_DIR)/$(HIREDIS_OLD_SONAME); do \
		[ -f "$$f" ] || { echo "install: $$f is missing; run 'make'$(if $(IS_MINIMAL), and 'make minimal') first" >&2; exit 1; }; \
	done
	install -d "$(DESTDIR)$(LIBDIR)/pkgconfig" "$(DESTDIR)$(INCLUDEDIR)"
	install -m 755 $(LIB_SO) "$(DESTDIR)$(LIBDIR)/libredcore.so.$(VERSION)"
	ln -sf libredcore.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/libredcore.so.$(MAJOR)"
	ln -sf libredcore.so.$(MAJOR) "$(DESTDIR)$(LIBDIR)/libredcore.so"
	# The archives without debug info (the std library's, which the release profile cannot
	# leave out, is a third of them).
	strip --strip-debug -o "$(DESTDIR)$(LIBDIR)/libredcore.a" $(LIB_A)
	chmod 644 "$(DESTDIR)$(LIBDIR)/libredcore.a"
	install -m 644 include/redcore.h include/redcore.hpp "$(DESTDIR)$(INCLUDEDIR)/"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS_PRIVATE@|$(NATIVE_STATIC_LIBS)|' \
		tests/tools/redcore.pc.in > "$(DESTDIR)$(LIBDIR)/pkgconfig/redcore.pc"
	# The CMake package: find_package(redcore), target redcore::redcore.
	install -d "$(DESTDIR)$(LIBDIR)/cmake/redcore"
	for f in redcoreConfig redcoreConfigVersion; do \
		sed -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
			-e 's|@VERSION@|$(VERSION)|' -e 's|@MAJOR@|$(MAJOR)|' \
			-e 's|@LIBS_PRIVATE_CMAKE@|$(CMAKE_STATIC_LIBS)|' \
			tests/tools/$$f.cmake.in > "$(DESTDIR)$(LIBDIR)/cmake/redcore/$$f.cmake"; \
	done
	# One file per ABI (see HIREDIS_SONAME above), and the names hiredis's installs use.
	install -m 755 $(HIREDIS_DIR)/$(HIREDIS_SONAME) "$(DESTDIR)$(LIBDIR)/$(HIREDIS_SONAME)"
	install -m 755 $(HIREDIS_DIR)/$(HIREDIS_OLD_SONAME) "$(DESTDIR)$(LIBDIR)/$(HIREDIS_OLD_SONAME)"
	for alias in $(HIREDIS_OLD_ALIASES); do \
		ln -sf $(HIREDIS_OLD_SONAME) "$(DESTDIR)$(LIBDIR)/$$alias"; \
	done
	ln -sf $(HIREDIS_SONAME) "$(DESTDIR)$(LIBDIR)/$(HIREDIS_MAJOR_LINK)"
	ln -sf $(HIREDIS_MAJOR_LINK) "$(DESTDIR)$(LIBDIR)/libhiredis.so"
	strip --strip-debug -o "$(DESTDIR)$(LIBDIR)/libhiredis.a" $(HIREDIS_A)
	chmod 644 "$(DESTDIR)$(LIBDIR)/libhiredis.a"
	# hiredis's TLS is a separate library, libhiredis_ssl; ours is in libhiredis, so each of its
	# names (for -lhiredis_ssl and for programs linked against it) leads to the file of the
	# same ABI.
	for name in $(HIREDIS_OLD_SONAME) $(HIREDIS_OLD_ALIASES); do \
		ln -sf $(HIREDIS_OLD_SONAME) "$(DESTDIR)$(LIBDIR)/$$(echo $$name | sed s/libhiredis/libhiredis_ssl/)"; \
	done
	for name in $(HIREDIS_SONAME) $(HIREDIS_MAJOR_LINK) libhiredis.so; do \
		ln -sf $(HIREDIS_SONAME) "$(DESTDIR)$(LIBDIR)/$$(echo $$name | sed s/libhiredis/libhiredis_ssl/)"; \
	done
	ln -sf libhiredis.a "$(DESTDIR)$(LIBDIR)/libhiredis_ssl.a"
	install -d "$(DESTDIR)$(INCLUDEDIR)/hiredis/adapters"
	install -m 644 include/hiredis/*.h "$(DESTDIR)$(INCLUDEDIR)/hiredis/"
	install -m 644 include/hiredis/adapters/*.h "$(DESTDIR)$(INCLUDEDIR)/hiredis/adapters/"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(HIREDIS_VERSION)|' \
		-e 's|@LIBS_PRIVATE@|$(NATIVE_STATIC_LIBS)|' \
		tests/tools/hiredis.pc.in > "$(DESTDIR)$(LIBDIR)/pkgconfig/hiredis.pc"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(HIREDIS_VERSION)|' \
		tests/tools/hiredis_ssl.pc.in > "$(DESTDIR)$(LIBDIR)/pkgconfig/hiredis_ssl.pc"

# The build without TLS, as a program linking it statically sees it (tests/tools/minimal-check.c:
# the README's quick start, then a rediss:// client that must fail saying why), linked with
# --gc-sections and stripped: its size is checked, and printed beside the same program on the
# full libredcore.a. Then the prelinked archives (PRELINK above): hiredis's sync test on
# libhiredis.a without --gc-sections stays small, each archive defines the API's names and no
# others, and a program on both archives runs, linked both ways round.
test-minimal: minimal all $(HIREDIS_STATIC_TEST)
	@mkdir -p build/minimal
	$(CC) -O2 $(EXAMPLE_CFLAGS) tests/tools/minimal-check.c $(MINIMAL_DIR)/libredcore.a \
		$(NATIVE_STATIC_LIBS) -Wl,--gc-sections -s -o build/minimal/check
	@$(CC) -O2 $(EXAMPLE_CFLAGS) tests/tools/minimal-check.c $(LIB_A) \
		$(NATIVE_STATIC_LIBS) -Wl,--gc-sections -s -o build/minimal/check-full
	@size=$$(stat -c %s build/minimal/check); full=$$(stat -c %s build/minimal/check-full); \
	echo "test-minimal: stripped, --gc-sections: $$size bytes without TLS, $$full with (limit $(MINIMAL_MAX_BYTES))"; \
	if [ "$$size" -gt $(MINIMAL_MAX_BYTES) ]; then \
		echo "test-minimal: the minimal program grew past $(MINIMAL_MAX_BYTES) bytes" >&2; exit 1; fi
	$(WITH_REDIS) build/minimal/check
	@strip -o build/minimal/hiredis-sync-test $(HIREDIS_STATIC_TEST); \
	size=$$(stat -c %s build/minimal/hiredis-sync-test); \
	echo "test-minimal: hiredis's sync test on libhiredis.a, stripped, no --gc-sections: $$size bytes (limit $(HIREDIS_STATIC_MAX_BYTES))"; \
	if [ "$$size" -gt $(HIREDIS_STATIC_MAX_BYTES) ]; then \
		echo "test-minimal: a program on libhiredis.a grew past $(HIREDIS_STATIC_MAX_BYTES) bytes" >&2; exit 1; fi
	@# Each archive is one prelinked object whose global names are the library's API, no more,
	@# and with no section groups (which a program's other objects could displace).
	@check() { \
		[ "$$(ar t $$1)" = $(PRELINKED) ] || { echo "test-minimal: $$1 is not prelinked" >&2; return 1; }; \
		if ! readelf -gW $$1 | grep -q 'no section groups'; then \
			echo "test-minimal: $$1 has section groups" >&2; return 1; fi; \
		nm -g --defined-only -j $$1 | grep -v -e '^$$' -e ':$$' | sort > build/minimal/defined; \
		nm -D --defined-only $$2 | cut -d' ' -f3 | grep -v -e "$$3" | sort > build/minimal/api; \
		diff -u build/minimal/api build/minimal/defined >&2 || { \
			echo "test-minimal: $$1 defines other global names than $$2 exports (diff above)" >&2; return 1; }; \
		echo "test-minimal: $$1: one object, $$(wc -l < build/minimal/api) global names, the API's"; \
	}; \
	check $(LIB_A) $(LIB_SO) '^$$' && \
	check $(MINIMAL_DIR)/libredcore.a $(MINIMAL_DIR)/libredcore.so '^$$' && \
	check $(HIREDIS_A) $(HIREDIS_DIR)/libredcore.so '^redcore_'
	@# A program on both archives (hiredis's API and the native one), linked both ways round.
	$(CC) $(HIREDIS_CFLAGS) tests/tools/both-archives-check.c $(HIREDIS_A) $(LIB_A) \
		$(NATIVE_STATIC_LIBS) -o build/minimal/both-archives
	$(WITH_REDIS) build/minimal/both-archives
	$(CC) $(HIREDIS_CFLAGS) tests/tools/both-archives-check.c $(LIB_A) $(HIREDIS_A) \
		$(NATIVE_STATIC_LIBS) -o build/minimal/both-archives
	$(WITH_REDIS) build/minimal/both-archives

# ---- the rest -------------------------------------------------------------------------------

demo: all examples
	@tests/tools/ensure-deps.sh redis-server redis-sentinel redis-cli
	@if [ -z "$(EXAMPLES)" ]; then echo "demo: there are no examples/*.c yet, nothing to run"; fi
	@for e in $(EXAMPLES); do \
		echo "==> $$e"; \
		case $$e in \
		*/cluster) with=$(WITH_CLUSTER) ;; \
		*/sentinel) with=$(WITH_SENTINEL) ;; \
		*) with=$(WITH_REDIS) ;; \
		esac; \
		$$with $$e || { echo "demo: $$e FAILED" >&2; exit 1; }; \
	done

# The benchmark suite against hiredis, redis-rs and redis-benchmark, over TCP and TLS, and the
# 10-minute memory soak (bench/run.py says what it runs; about 22 minutes on 2 cores). QUICK=1:
# small N, one run and a 5 s soak, to check the suite quickly; the figures mean little.
# hiredis_ssl is built against OpenSSL's headers (libssl-dev), for the bench only; hiredis's
# async runs use libevent (libevent-dev).
bench: all
	@tests/tools/ensure-deps.sh redis-server redis-benchmark openssl openssl/ssl.h event2/event.h
	python3 bench/run.py $(if $(QUICK),--quick)

clean:
	$(CARGO) clean
	rm -rf build
