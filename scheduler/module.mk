# scheduler/: the wavemill-scheduler daemon (sched_main.c) and libscheduler
# (every other scheduler/*.c: reconciler, outbox, ownership, events).
# May include: itself and common/ (the pipeline table is in common/); it
# links libwavemill only.
SCHED_MAIN_SRCS := $(wildcard scheduler/sched_main.c)
SCHED_LIB_SRCS  := $(filter-out $(SCHED_MAIN_SRCS),$(wildcard scheduler/*.c))
SCHED_LIB       := $(BUILD)/libscheduler.a
SCHED_INC       := -Ischeduler -Icommon
$(BUILD)/scheduler/%.o: MOD_INC := $(SCHED_INC)
$(eval $(call static_lib,scheduler,$(SCHED_LIB_SRCS)))

ifneq ($(SCHED_MAIN_SRCS),)
$(eval $(call program,wavemill-scheduler,$(SCHED_MAIN_SRCS),$(SCHED_LIB) $(COMMON_LIB)))
endif

.PHONY: sched
sched: $(filter $(BIN)/wavemill-scheduler,$(BINS)) $(filter $(BIN)/tests/test_sched_%,$(TEST_BINS))
