# cli/: the wavemill operator command (cli_main.c and the cli_*.c verbs) and
# the code only it uses: inventory intake (inventory*.c, inv_) and operator
# actions on waves and servers (cli_ops*.c).  Everything but cli_main.c is in
# libcli so the tests can link it.  May include: itself, common/, scheduler/
# (sched_sql.h's helpers).
CLI_MAIN_SRCS := $(wildcard cli/cli_main.c)
CLI_LIB_SRCS  := $(filter-out $(CLI_MAIN_SRCS),$(wildcard cli/*.c))
CLI_LIB       := $(BUILD)/libcli.a
CLI_INC       := -Icli -Ischeduler -Icommon
$(BUILD)/cli/%.o: MOD_INC := $(CLI_INC)
$(eval $(call static_lib,cli,$(CLI_LIB_SRCS)))

ifneq ($(CLI_MAIN_SRCS),)
$(eval $(call program,wavemill,$(CLI_MAIN_SRCS),$(CLI_LIB) $(SCHED_LIB) $(COMMON_LIB)))
endif

.PHONY: cli
cli: $(filter $(BIN)/wavemill,$(BINS)) $(filter $(BIN)/tests/test_cli_%,$(TEST_BINS))
