# api/: wavemill-api, the REST API, event stream and dashboard (api/www/,
# served from the tree: no build step).  May include: itself, common/, cli/
# (the operator actions, action.h, and the intake, inventory.h: the same code
# the wavemill command runs) and scheduler/ (which cli/ headers use).
API_SRCS := $(wildcard api/*.c)
API_INC  := -Iapi -Icli -Ischeduler -Icommon
$(BUILD)/api/%.o: MOD_INC := $(API_INC)
ifneq ($(API_SRCS),)
$(eval $(call program,wavemill-api,$(API_SRCS),$(CLI_LIB) $(SCHED_LIB) $(COMMON_LIB)))
endif
