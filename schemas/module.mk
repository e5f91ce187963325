# schemas/*.avsc are compiled into libwavemill as C strings (see embed.sh).
SCHEMA_FILES := $(sort $(wildcard schemas/*.avsc))

$(BUILD)/gen/schemas.c: $(SCHEMA_FILES) schemas/embed.sh
	@mkdir -p $(dir $@)
	schemas/embed.sh $(SCHEMA_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/schemas.o: MOD_INC := -Icommon
$(BUILD)/gen/schemas.o: $(BUILD)/gen/schemas.c
	$(CC) $(WMCFLAGS) $(WMCPPFLAGS) -c $< -o $@
