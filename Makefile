# Accord - a plain Makefile. `make help` lists the targets.

PREFIX  ?= /usr/local
bindir  ?= $(PREFIX)/bin
libdir  ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include
mandir  ?= $(PREFIX)/share/man
DESTDIR ?=

CC      ?= cc
PKG_CONFIG ?= pkg-config
PROTOC_C ?= protoc-c

# BUILD is where objects, the library and test programs go; BIN where the
# programs go. `make check` uses a separate BUILD with sanitizers on.
BUILD   ?= build
BIN     ?= bin
SAN     ?=
WERROR  ?=

PKGS    := libssl libcrypto libprotobuf-c yaml-0.1 libcurl jansson libcjson lmdb libevent \
           libevent_openssl
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wno-unused-parameter
OPT     ?= -O2 -g
CFLAGS  ?=
ACCORD_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread $(OPT) $(WARN) $(if $(WERROR),-Werror) \
           -Iinclude -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
# audit_verify shares the leaf hashes with a second thread.
ACCORD_LDFLAGS := -pthread
# accordd allocates with mimalloc (Debian's libmimalloc, linked first so
# that its malloc serves every library): glibc's malloc took a seventh of
# the event loop's time, and the loop's CPU a disclosure fell by 15%. Not
# under the sanitizers, which bring their own allocator.
ALLOC_LIBS ?= $(if $(SAN),,-lmimalloc)
ifneq ($(SAN),)
ACCORD_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all \
           -fno-omit-frame-pointer
ACCORD_LDFLAGS += -fsanitize=address,undefined
endif

# The Debian packages a fresh machine needs to build and test, and those the
# developer targets (fuzz, lint, valgrind) need besides.
DEB_PKGS := build-essential pkg-config libssl-dev openssl curl python3 libcurl4-openssl-dev \
            libprotobuf-c-dev protobuf-c-compiler liblmdb-dev lmdb-utils \
            libcmocka-dev libevent-dev libyaml-dev libjansson-dev libcjson-dev libmimalloc-dev
DEB_DEV_PKGS := clang libclang-rt-14-dev valgrind cppcheck clang-tidy

PROTOS  := $(wildcard proto/*.proto)
GEN_C   := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
GEN_H   := $(GEN_C:.c=.h)
DAEMON_SRC := node/accordd.c
LIB_SRC := $(filter-out $(DAEMON_SRC),$(wildcard node/*.c))
LIB_OBJ := $(patsubst node/%.c,$(BUILD)/node/%.o,$(LIB_SRC)) \
           $(patsubst $(BUILD)/gen/%.c,$(BUILD)/gen/%.o,$(GEN_C))
LIB     := $(BUILD)/libaccord.a
TOOL_SRC := $(wildcard tools/*.c)
TOOL_OBJ := $(patsubst tools/%.c,$(BUILD)/tools/%.o,$(TOOL_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UNIT_HELPER_OBJ := $(patsubst tests/unit/%.c,$(BUILD)/tests/%.o,$(wildcard tests/unit/helper_*.c))
INTEG   := $(sort $(wildcard tests/integration/*.sh))
FUZZ_SECONDS ?= 30

.PHONY: all deps deps-dev deps-bench demo test check tsan fuzz bench install uninstall clean \
        help build-tests valgrind lint
.DEFAULT_GOAL := all

all: $(BIN)/accord $(BIN)/accordd

help:
	@echo "make          build bin/accord and $(LIB)"
	@echo "make deps     install the Debian packages it needs (as root), or print the line"
	@echo "make demo     deps, build, then run the demo"
	@echo "make test     deps, build, then every unit and integration test"
	@echo "make check    the whole suite under AddressSanitizer + UBSan"
	@echo "make tsan     the whole suite under ThreadSanitizer (the daemon's writer thread)"
	@echo "make fuzz     each libFuzzer target for FUZZ_SECONDS (default $(FUZZ_SECONDS))"
	@echo "make bench    benchmarks (BENCH=NAME for one)"
	@echo "make install  install into DESTDIR/PREFIX (default $(PREFIX))"

# --- dependencies -----------------------------------------------------------

deps:
	@sh tools/deps.sh $(DEB_PKGS)

deps-dev: deps
	@sh tools/deps.sh $(DEB_DEV_PKGS)

# --- build ------------------------------------------------------------------

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	$(PROTOC_C) --c_out=$(BUILD)/gen -Iproto $<

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(filter-out -Wshadow -Wmissing-prototypes,$(ACCORD_CFLAGS)) $(CFLAGS) -c -o $@ $<

$(BUILD)/node/%.o: node/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ACCORD_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tools/%.o: tools/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ACCORD_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/accord: $(TOOL_OBJ) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(ACCORD_LDFLAGS) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(LIB) $(PKG_LIBS)

$(BIN)/accordd: $(BUILD)/node/accordd.o $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(ACCORD_LDFLAGS) $(LDFLAGS) -o $@ $< $(ALLOC_LIBS) $(LIB) $(PKG_LIBS)

# --- tests ------------------------------------------------------------------

CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/tests/%.o: tests/unit/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ACCORD_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(UNIT_HELPER_OBJ) $(LIB)
	$(CC) $(ACCORD_LDFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_HELPER_OBJ) $(LIB) \
	  $(PKG_LIBS) $(CMOCKA_LIBS)

TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))

$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB) | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ACCORD_CFLAGS) $(CFLAGS) $(ACCORD_LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

# Libraries the integration tests preload into a node, built without the
# sanitizers (they wrap libc's calls, beneath the node's own code).
TEST_PRELOAD := $(patsubst tests/preload/%.c,$(BUILD)/tests/preload/lib%.so,$(wildcard tests/preload/*.c))

$(BUILD)/tests/preload/lib%.so: tests/preload/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -fPIC -shared $(WARN) $(if $(WERROR),-Werror) \
	  -o $@ $< -ldl -pthread

build-tests: $(BIN)/accord $(BIN)/accordd $(UNIT_BIN) $(TEST_TOOLS) $(TEST_PRELOAD)

test: deps
	@$(MAKE) --no-print-directory build-tests
	@ACCORD=$(CURDIR)/$(BIN)/accord ACCORDD=$(CURDIR)/$(BIN)/accordd SRCDIR=$(CURDIR) \
	  TOOLS=$(CURDIR)/$(BUILD)/tests/tools PRELOAD=$(CURDIR)/$(BUILD)/tests/preload \
	  sh tests/run.sh $(UNIT_BIN) $(INTEG)

check: deps
	@$(MAKE) --no-print-directory BUILD=build/san BIN=build/san/bin SAN=1 OPT="-O1 -g" test

# The daemon's event loop and its writer thread share the node: the whole
# suite under ThreadSanitizer, any race fatal.
tsan: deps
	@TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(MAKE) --no-print-directory \
	  BUILD=build/tsan BIN=build/tsan/bin OPT="-O1 -g" CFLAGS="-fsanitize=thread" \
	  LDFLAGS="-fsanitize=thread" ALLOC_LIBS= test

# The unit tests under valgrind's memcheck: no errors, no leaks.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible

valgrind: deps-dev
	@$(MAKE) --no-print-directory build-tests
	@SRCDIR=$(CURDIR) VALGRIND="$(VALGRIND)" sh tests/run.sh $(UNIT_BIN)

# clang-tidy and cppcheck under the committed .clang-tidy and
# tests/cppcheck.supp; any finding fails.
LINT_SRC := $(LIB_SRC) $(DAEMON_SRC) $(TOOL_SRC)
# cppcheck does not read system headers: give it protobuf-c's version.
PBC_VERSION = $(shell $(PKG_CONFIG) --modversion libprotobuf-c | \
	awk -F. '{ printf "%d%03d%03d", $$1, $$2, $$3 }')

lint: deps-dev $(GEN_H)
	clang-tidy --quiet --warnings-as-errors='*' $(LINT_SRC) -- \
	  -std=c11 -D_GNU_SOURCE -Iinclude -I$(BUILD)/gen $(PKG_CFLAGS)
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	  --inline-suppr --suppressions-list=tests/cppcheck.supp -D_GNU_SOURCE \
	  -DPROTOBUF_C_VERSION_NUMBER=$(PBC_VERSION) -DPROTOBUF_C_MIN_COMPILER_VERSION=1000000 \
	  -Iinclude -I$(BUILD)/gen $(LINT_SRC)

demo: deps
	@$(MAKE) --no-print-directory all
	@ACCORD=$(CURDIR)/$(BIN)/accord ACCORDD=$(CURDIR)/$(BIN)/accordd SRCDIR=$(CURDIR) \
	  sh tools/demo.sh

# --- fuzzing ----------------------------------------------------------------

FUZZ_BUILD := build/fuzz
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_JOBS ?= 2
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-sanitize-recover=all \
	-Iinclude -I$(BUILD)/gen $(PKG_CFLAGS)
FUZZ_OBJ := $(patsubst node/%.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC)) \
	$(patsubst $(BUILD)/gen/%.c,$(FUZZ_BUILD)/obj/%.o,$(GEN_C))

# The library once, instrumented for coverage; each target links it.
$(FUZZ_BUILD)/obj/%.o: node/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/obj/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) \
	  $(PKG_LIBS) -pthread

fuzz: deps-dev $(GEN_H)
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_BIN)

# --- benchmarks -------------------------------------------------------------
# Each tests/bench/bench_NAME.c is one program printing one JSON object a
# line; tests/bench/run.sh runs them all, or BENCH=NAME only.

BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# SQLite and nginx are the benchmarks' baselines only: the core library
# never links them; tests/bench/exchange.sh runs Debian's nginx.
BENCH_PKGS := sqlite3
BENCH_DEB_PKGS := libsqlite3-dev nginx
BENCH_LIBS ?= $(shell $(PKG_CONFIG) --libs $(BENCH_PKGS) 2>/dev/null)

$(BUILD)/bench/%: tests/bench/%.c $(LIB) | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ACCORD_CFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(PKG_LIBS) $(BENCH_LIBS)

deps-bench: deps
	@sh tools/deps.sh $(BENCH_DEB_PKGS)

bench: deps-bench
	@$(MAKE) --no-print-directory $(BIN)/accord $(BIN)/accordd $(if $(BENCH),$(BUILD)/bench/bench_$(BENCH),$(BENCH_BIN))
	@ACCORD=$(CURDIR)/$(BIN)/accord ACCORDD=$(CURDIR)/$(BIN)/accordd SRCDIR=$(CURDIR) BENCH_DIR=$(CURDIR)/$(BUILD)/bench \
	  sh tests/bench/run.sh $(BENCH)

# --- install ----------------------------------------------------------------

install: $(BIN)/accord $(BIN)/accordd $(BIN)/accordd
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(libdir) $(DESTDIR)$(mandir)/man8 \
	  $(DESTDIR)$(includedir)/accord $(DESTDIR)$(mandir)/man1
	install -m 0755 $(BIN)/accord $(DESTDIR)$(bindir)/accord
	install -m 0755 $(BIN)/accordd $(DESTDIR)$(bindir)/accordd
	install -m 0644 $(LIB) $(DESTDIR)$(libdir)/libaccord.a
	install -m 0644 include/accord/*.h $(GEN_H) $(DESTDIR)$(includedir)/accord/
	install -m 0644 tools/man/*.1 $(DESTDIR)$(mandir)/man1/
	install -m 0644 tools/man/*.8 $(DESTDIR)$(mandir)/man8/

uninstall:
	rm -f $(DESTDIR)$(bindir)/accord $(DESTDIR)$(bindir)/accordd $(DESTDIR)$(libdir)/libaccord.a \
	  $(DESTDIR)$(mandir)/man1/accord.1 $(DESTDIR)$(mandir)/man8/accordd.8
	rm -rf $(DESTDIR)$(includedir)/accord

clean:
	rm -rf build bin

# Keep objects of the chained pattern rules between runs.
.SECONDARY:

-include $(wildcard $(BUILD)/node/*.d $(BUILD)/tools/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)
