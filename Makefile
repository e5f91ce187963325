# wavemill — one entry point: build, test, demo, bench.
#
# Each source directory contributes a fragment (module.mk) that appends to
# BINS / TEST_BINS and defines its own static library, so work in one module
# never needs an edit here.

CC      ?= gcc
BUILD   ?= build
BIN     ?= bin
PKGS    := rdkafka avro-c libpq libcurl libzstd openssl libxxhash libvirt libmicrohttpd

VERSION   ?= 0.1.0
OPT       ?= -O2 -g
SAN_FLAGS :=
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
endif

WMCFLAGS := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -DWAVEMILL_VERSION='"$(VERSION)"' \
            -MMD -MP $(OPT) $(SAN_FLAGS)
# Include paths are per module (MOD_INC, set by each module.mk for the
# objects under its folder): a module sees itself and the modules it may use,
# so an include that crosses the layout the wrong way fails the build.  The
# allowed edges are in tests/layout_deps (checked by make test):
#   common -> (nothing)   replicator -> common   scheduler -> common
#   worker -> common, replicator   cli -> common, scheduler
#   tests -> everything
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
WMCPPFLAGS = $(MOD_INC) $(PKG_CFLAGS)
WMLDFLAGS := $(SAN_FLAGS)
WMLDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
TEST_LDLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

BINS      :=
TEST_BINS :=
ALL_OBJS  :=

.PHONY: all tests test asan up down status deps fuzz bench demo clean layout
all:

# $(call objs,SRCS) -> object paths under $(BUILD)
objs = $(patsubst %.c,$(BUILD)/%.o,$(1))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(WMCFLAGS) $(WMCPPFLAGS) -c $< -o $@

# $(call static_lib,NAME,SRCS): $(BUILD)/libNAME.a from SRCS
define static_lib
ALL_OBJS += $(call objs,$(2))
$(BUILD)/lib$(1).a: $(call objs,$(2))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef

# $(call program,NAME,MAIN_SRCS,LIBS): $(BIN)/NAME; LIBS in link order
define program
ALL_OBJS += $(call objs,$(2))
BINS += $(BIN)/$(1)
$(BIN)/$(1): $(call objs,$(2)) $(3)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WMLDFLAGS) -o $$@ $$^ $$(WMLDLIBS)
endef

include common/module.mk
include schemas/module.mk
include replicator/module.mk
include worker/module.mk
include scheduler/module.mk
include cli/module.mk
include api/module.mk
include tests/module.mk
include deploy/module.mk

all: $(BINS)
tests: $(BINS) $(TEST_BINS)

# The whole suite: install what is missing, build, start the local stack,
# run every test.  Recursive make so pkg-config sees freshly installed libs.
test:
	deploy/local/install-deps
	tests/layout/check_deps
	$(MAKE) tests
	deploy/local/up
	tests/run

asan:
	deploy/local/install-deps
	$(MAKE) BUILD=build/asan BIN=bin/asan SAN=1 tests

deps:
	deploy/local/install-deps

# Which module may use which (see tests/layout/check_deps).
layout:
	tests/layout/check_deps

up: all
	deploy/local/up

down:
	deploy/local/down

status:
	deploy/local/status

# A wave of three real source hosts migrated end to end, data proven (root).
demo:
	deploy/local/install-deps
	$(MAKE) all
	deploy/demo/run

# Benchmarks (not tests): figures and ratios against their peers, printed.
# Each needs the local stack or root as its own header says.
bench: all tests
	deploy/local/up
	tests/bench/replicate
	tests/bench/fanin
	tests/bench/orchestrate
	tests/bench/ebs_export
	tests/bench/cutover

# libFuzzer targets (clang), a bounded time each: FUZZ_SECONDS=30 by default
fuzz:
	tests/fuzz/run

clean:
	rm -rf build bin

-include $(ALL_OBJS:.o=.d)
