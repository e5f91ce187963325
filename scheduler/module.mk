# scheduler/: the wavemill CLI (cli_*.c) and wavemill-scheduler
# (sched_main.c).  Code shared by both (pipeline, wave/server model, import)
# is every other scheduler/*.c, in libscheduler.
SCHED_CLI_SRCS  := $(wildcard scheduler/cli_*.c)
SCHED_MAIN_SRCS := $(wildcard scheduler/sched_main.c)
SCHED_LIB_SRCS  := $(filter-out $(SCHED_CLI_SRCS) $(SCHED_MAIN_SRCS),$(wildcard scheduler/*.c))
SCHED_LIB       := $(BUILD)/libscheduler.a
$(eval $(call static_lib,scheduler,$(SCHED_LIB_SRCS)))

# the CLI needs only the scheduler library and the runtime
ifneq ($(SCHED_CLI_SRCS),)
$(eval $(call program,wavemill,$(SCHED_CLI_SRCS),$(SCHED_LIB) $(COMMON_LIB)))
endif
ifneq ($(SCHED_MAIN_SRCS),)
$(eval $(call program,wavemill-scheduler,$(SCHED_MAIN_SRCS),$(SCHED_LIB) $(WORKER_LIB) $(REPL_LIB) $(COMMON_LIB)))
endif

TEST_LIBS_orch := $(SCHED_LIB) $(WORKER_LIB) $(REPL_LIB) $(COMMON_LIB)
.PHONY: orch
orch: $(filter $(BIN)/wavemill $(BIN)/wavemill-scheduler $(BIN)/wavemill-worker,$(BINS)) \
      $(filter $(BIN)/tests/test_orch_%,$(TEST_BINS))
