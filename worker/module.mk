# worker/: libworker (task handlers, drivers: transport, provider, sim) and
# wavemill-worker.  Every worker/*.c except worker_main.c is in the library.
WORKER_LIB_SRCS := $(filter-out worker/worker_main.c,$(wildcard worker/*.c))
WORKER_LIB      := $(BUILD)/libworker.a
$(eval $(call static_lib,worker,$(WORKER_LIB_SRCS)))

ifneq ($(wildcard worker/worker_main.c),)
$(eval $(call program,wavemill-worker,worker/worker_main.c,$(WORKER_LIB) $(REPL_LIB) $(COMMON_LIB)))
endif
