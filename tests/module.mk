# Test programs: tests/{unit,integration,chaos}/test_<module>_<name>.c each
# become $(BIN)/tests/test_<module>_<name>.  The module prefix picks the
# libraries linked, so a half-finished module never breaks another's tests:
#   common -> libwavemill
#   repl   -> libreplicator + libwavemill
#   orch   -> libscheduler + libworker + libreplicator + libwavemill
TEST_SRCS := $(wildcard tests/unit/test_*.c tests/integration/test_*.c tests/chaos/test_*.c)
# Support code: tests/support/repl_*.c and orch_*.c are linked only into
# the tests of that module prefix, so they may call that module's libraries;
# every other support file (common_*.c, tls_fixture.c) is linked into every
# test and may call libwavemill only.
TEST_SUPPORT_SRCS := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJS := $(call objs,$(TEST_SUPPORT_SRCS))
TEST_SUPPORT_OBJS_shared := $(call objs,$(filter-out tests/support/repl_% tests/support/orch_%,$(TEST_SUPPORT_SRCS)))
TEST_SUPPORT_OBJS_repl := $(call objs,$(filter tests/support/repl_%,$(TEST_SUPPORT_SRCS)))
TEST_SUPPORT_OBJS_orch := $(call objs,$(filter tests/support/orch_%,$(TEST_SUPPORT_SRCS)))
ALL_OBJS  += $(call objs,$(TEST_SRCS)) $(TEST_SUPPORT_OBJS)
TEST_BINS += $(patsubst %.c,$(BIN)/tests/%,$(notdir $(TEST_SRCS)))

# libraries per test prefix; module fragments append to these
TEST_LIBS_common := $(COMMON_LIB)

test_module = $(word 2,$(subst _, ,$(notdir $(basename $(1)))))
define test_rule
$(BIN)/tests/$(notdir $(basename $(1))): $(call objs,$(1)) $(TEST_SUPPORT_OBJS_shared) $$(TEST_SUPPORT_OBJS_$(call test_module,$(1))) $$(TEST_LIBS_$(call test_module,$(1)))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WMLDFLAGS) -o $$@ $$^ $$(TEST_LDLIBS) $$(WMLDLIBS)
endef
$(foreach t,$(TEST_SRCS),$(eval $(call test_rule,$(t))))
