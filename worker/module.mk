# worker/: libworker and wavemill-worker.  The core (loop, pool, reporter,
# handlers, task, driver selection) is at the top; the drivers live in
# subfolders, one prefix each (transport/, provider/, provider/aws/,
# replication/, sim/, probe/, prereq/, cmdb/) and are included as
# "transport/transport.h" etc.  Every worker .c except worker_main.c is in
# the library.  May include: itself, common/, replicator/ (the agent client).
WORKER_LIB_SRCS := $(filter-out worker/worker_main.c,$(wildcard worker/*.c worker/*/*.c worker/*/*/*.c))
WORKER_LIB      := $(BUILD)/libworker.a
WORKER_INC      := -Iworker -Icommon -Ireplicator
$(BUILD)/worker/%.o: MOD_INC := $(WORKER_INC)
$(eval $(call static_lib,worker,$(WORKER_LIB_SRCS)))

ifneq ($(wildcard worker/worker_main.c),)
$(eval $(call program,wavemill-worker,worker/worker_main.c,$(WORKER_LIB) $(REPL_LIB) $(COMMON_LIB)))
endif
