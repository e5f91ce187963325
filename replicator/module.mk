# replicator/: libreplicator (engine, protocol, tls use, control client the
# worker links) and the agent/receiver programs.  Every replicator/*.c that
# is not a *_main.c goes into the library.
REPL_MAIN_SRCS := $(wildcard replicator/*_main.c)
REPL_LIB_SRCS  := $(filter-out $(REPL_MAIN_SRCS),$(wildcard replicator/*.c))
REPL_LIB       := $(BUILD)/libreplicator.a
REPL_INC       := -Ireplicator -Icommon
$(BUILD)/replicator/%.o: MOD_INC := $(REPL_INC)
$(eval $(call static_lib,replicator,$(REPL_LIB_SRCS)))

ifneq ($(wildcard replicator/agent_main.c),)
$(eval $(call program,wavemill-agent,replicator/agent_main.c,$(REPL_LIB) $(COMMON_LIB)))
endif
ifneq ($(wildcard replicator/receiver_main.c),)
$(eval $(call program,wavemill-receiver,replicator/receiver_main.c,$(REPL_LIB) $(COMMON_LIB)))
endif

TEST_LIBS_repl := $(REPL_LIB) $(COMMON_LIB)
.PHONY: repl
repl: $(filter $(BIN)/wavemill-agent $(BIN)/wavemill-receiver,$(BINS)) \
      $(filter $(BIN)/tests/test_repl_%,$(TEST_BINS))
