# Test programs: tests/{unit,integration,chaos}/test_<module>_<name>.c each
# become $(BIN)/tests/test_<module>_<name>.  The module prefix picks the
# libraries linked, so a half-finished module never breaks another's tests:
#   common -> libwavemill
#   repl   -> libreplicator + libwavemill
#   worker -> libworker + libreplicator + libwavemill
#   sched  -> libscheduler + libwavemill
#   cli    -> libcli + libscheduler + libworker + libreplicator + libwavemill
# Tests see every module's headers (tests may use everything).
TEST_SRCS := $(wildcard tests/unit/test_*.c tests/integration/test_*.c tests/chaos/test_*.c)
# Support code: tests/support/repl_*.c are linked only into the repl tests,
# orch_*.c (the orchestration fixtures) into the cli, sched and worker tests,
# so they may call those modules' libraries;
# every other support file (common_*.c, tls_fixture.c) is linked into every
# test and may call libwavemill only.
TEST_SUPPORT_SRCS := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJS := $(call objs,$(TEST_SUPPORT_SRCS))
TEST_SUPPORT_OBJS_shared := $(call objs,$(filter-out tests/support/repl_% tests/support/orch_%,$(TEST_SUPPORT_SRCS)))
TEST_SUPPORT_OBJS_repl := $(call objs,$(filter tests/support/repl_%,$(TEST_SUPPORT_SRCS)))
TEST_SUPPORT_OBJS_orch := $(call objs,$(filter tests/support/orch_%,$(TEST_SUPPORT_SRCS)))
TEST_SUPPORT_OBJS_worker := $(TEST_SUPPORT_OBJS_orch)
TEST_SUPPORT_OBJS_sched := $(TEST_SUPPORT_OBJS_orch)
TEST_SUPPORT_OBJS_cli := $(TEST_SUPPORT_OBJS_orch)
$(BUILD)/tests/%.o: MOD_INC := -Icommon -Ireplicator -Iworker -Ischeduler -Icli -Itests/support
ALL_OBJS  += $(call objs,$(TEST_SRCS)) $(TEST_SUPPORT_OBJS)
TEST_BINS += $(patsubst %.c,$(BIN)/tests/%,$(notdir $(TEST_SRCS)))

# libraries per test prefix; module fragments append to these
TEST_LIBS_common := $(COMMON_LIB)
TEST_LIBS_worker := $(WORKER_LIB) $(REPL_LIB) $(COMMON_LIB)
TEST_LIBS_sched  := $(SCHED_LIB) $(WORKER_LIB) $(REPL_LIB) $(COMMON_LIB)
TEST_LIBS_cli    := $(CLI_LIB) $(SCHED_LIB) $(WORKER_LIB) $(REPL_LIB) $(COMMON_LIB)

test_module = $(word 2,$(subst _, ,$(notdir $(basename $(1)))))
define test_rule
$(BIN)/tests/$(notdir $(basename $(1))): $(call objs,$(1)) $(TEST_SUPPORT_OBJS_shared) $$(TEST_SUPPORT_OBJS_$(call test_module,$(1))) $$(TEST_LIBS_$(call test_module,$(1)))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(WMLDFLAGS) -o $$@ $$^ $$(TEST_LDLIBS) $$(WMLDLIBS)
endef
$(foreach t,$(TEST_SRCS),$(eval $(call test_rule,$(t))))

# The list tests/run must run, one path a line: every test program the
# sources define (built or not: a missing one fails the run) and every
# test script.
TEST_SCRIPTS := $(wildcard tests/integration/*.sh tests/chaos/*.sh)
.PHONY: print-tests
print-tests:
	@printf '%s\n' $(sort $(TEST_BINS)) $(sort $(TEST_SCRIPTS))
