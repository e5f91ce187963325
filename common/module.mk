# common/: libwavemill, the shared runtime every daemon links, and the one
# place the scheduler and the worker meet (pipeline table, pgprep, clock).
# It includes nothing but itself.
COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(call objs,$(COMMON_SRCS)) $(BUILD)/gen/schemas.o
COMMON_LIB  := $(BUILD)/libwavemill.a
ALL_OBJS    += $(COMMON_OBJS)
COMMON_INC  := -Icommon
$(BUILD)/common/%.o: MOD_INC := $(COMMON_INC)

$(COMMON_LIB): $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

.PHONY: common
common: $(COMMON_LIB)
