# deploy/: `make install` (PREFIX, DESTDIR), `make deb`, the configuration
# reference.  Paths follow the GNU conventions; the systemd units and the
# sample configuration get them substituted.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share/wavemill
DOCDIR     ?= $(PREFIX)/share/doc/wavemill
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/sysusers.d,$(PREFIX)/lib/sysusers.d)
INSTALL    ?= install

# the daemons a unit exists for: installed only when the program is built
# here (wavemill-api comes with api/)
UNIT_PROGS := wavemill-scheduler wavemill-worker wavemill-receiver wavemill-agent wavemill-api
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
            -e 's|@DATADIR@|$(DATADIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g'

.PHONY: install install-bin install-data install-units install-doc config-doc deb
install: install-bin install-data install-units install-doc

install-bin: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/

# schemas and migrations; the sample configuration, and the configuration
# itself when there is none yet (an operator's file is never overwritten);
# the dashboard's files when api/www exists
install-data:
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/sql $(DESTDIR)$(DATADIR)/schemas $(DESTDIR)$(SYSCONFDIR)/wavemill
	$(INSTALL) -m 0644 schemas/sql/*.sql $(DESTDIR)$(DATADIR)/sql/
	$(INSTALL) -m 0644 schemas/*.avsc $(DESTDIR)$(DATADIR)/schemas/
	$(SUBST) deploy/wavemill.conf.sample > $(DESTDIR)$(SYSCONFDIR)/wavemill/wavemill.conf.sample
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/wavemill/wavemill.conf.sample
	[ -e $(DESTDIR)$(SYSCONFDIR)/wavemill/wavemill.conf ] || \
	    $(INSTALL) -m 0640 $(DESTDIR)$(SYSCONFDIR)/wavemill/wavemill.conf.sample \
	        $(DESTDIR)$(SYSCONFDIR)/wavemill/wavemill.conf
	if [ -d api/www ]; then $(INSTALL) -d $(DESTDIR)$(DATADIR)/www && \
	    cp -R api/www/. $(DESTDIR)$(DATADIR)/www/ && chmod -R u=rwX,go=rX $(DESTDIR)$(DATADIR)/www; fi

install-units:
	$(INSTALL) -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	for p in $(UNIT_PROGS); do \
	    u=$$(case $$p in wavemill-worker) echo wavemill-worker@.service ;; *) echo $$p.service ;; esac); \
	    [ -x $(BIN)/$$p ] || { echo "install: no $(BIN)/$$p, unit $$u not installed"; continue; }; \
	    $(SUBST) deploy/systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; \
	done
	$(INSTALL) -m 0644 deploy/systemd/wavemill.sysusers $(DESTDIR)$(SYSUSERSDIR)/wavemill.conf

# the --help of every program, the configuration reference, the README
install-doc: all
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)/help
	$(INSTALL) -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	for b in $(BINS); do $$b --help > $(DESTDIR)$(DOCDIR)/help/$$(basename $$b).txt 2>&1 || \
	    { echo "install: $$b --help failed"; exit 1; }; done

config-doc: all
	deploy/config-reference $(BIN) > docs/configuration.md

deb: all
	deploy/deb/build $(VERSION)

# the container image (deploy/container/Containerfile); BASE=localhost/debian:bookworm
# after deploy/container/base-image where no registry is reachable
IMAGE ?= wavemill:$(VERSION)
.PHONY: image
image:
	podman build --isolation=chroot -f deploy/container/Containerfile -t $(IMAGE) \
	    $(if $(BASE),--build-arg BASE=$(BASE)) .
