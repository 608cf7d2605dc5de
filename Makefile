# mediarepo: a Matrix media repository as small FastCGI programs.
#
#   make          build the library, the endpoint programs and the admin tool
#   make run      install what is missing, build, serve on 127.0.0.1:8008
#   make test     install what is missing, build, run every test
#
# Objects go next to their sources; the sanitizer build of the unit tests
# goes under build/asan/ (O=build/asan/).

CC ?= cc
O ?=
# V=1 prints whole command lines.
ifeq ($(V),1)
Q =
else
Q = @
endif
PKGS = libfcgi-dev libsodium-dev libsqlite3-dev libcjson-dev libcmocka-dev \
       libgd-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev \
       libseccomp-dev zlib1g-dev libcurl4-openssl-dev lighttpd-mod-openssl \
       libxml2-dev libssl-dev \
       openssl python3-nacl python3-signedjson \
       pkg-config lighttpd curl python3-pytest python3-requests \
       python3-matrix-nio python3-pil wrk bc hyperfine libvips-tools \
       libjpeg-turbo-progs libavif-bin libheif-examples \
       apache2 libapache2-mod-fcgid libapache2-mod-xsendfile nginx \
       clang lintian libpq-dev postgresql-15 \
       prometheus \
       radosgw ceph-mon ceph-osd ceph-base ceph-common
# libgd is opened with dlopen by common/thumb.c (see there); only its
# headers are needed at build time.
PKG_LIBS = libsodium libcrypto sqlite3 libcjson libcurl libxml-2.0 libjpeg libpng libwebp \
       libwebpdemux libwebpmux libseccomp zlib libpq
# libpq: the PostgreSQL store (common/store_pg.c, database_url). It is the
# server's own client library, and the only one that speaks its protocol
# with TLS, SCRAM and every connection option an operator may put in a URL.

# Messages and log lines are cut to their buffers on purpose, hence
# -Wno-format-truncation. Tables leave trailing fields to zero on purpose,
# hence -Wno-missing-field-initializers.
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 \
       -Wno-format-nonliteral -Wno-format-truncation -Wno-missing-field-initializers
HARDEN = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(HARDEN) $(CFLAGS) $(EXTRA_CFLAGS) \
	$(shell pkg-config --cflags $(PKG_LIBS) gdlib 2>/dev/null)
# --as-needed: a program loads only the libraries its code uses (the admin
# tool and thumbnailer skip libcurl's dozen dependencies at start-up).
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS) $(EXTRA_LDFLAGS)
LIBS = -lfcgi $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null) -lgif -lresolv -lm

LIB_OBJS += common/admin.o
LIB_OBJS += common/admin_api.o
LIB_OBJS += common/auth.o
LIB_OBJS += common/auth_whoami.o
LIB_OBJS += common/auth_xmatrix.o
LIB_OBJS += common/blob.o
LIB_OBJS += common/blob_fs.o
LIB_OBJS += common/blob_s3.o
LIB_OBJS += common/config.o
LIB_OBJS += common/ctx.o
LIB_OBJS += common/fed.o
LIB_OBJS += common/fed_discover.o
LIB_OBJS += common/header.o
LIB_OBJS += common/http.o
LIB_OBJS += common/http_client.o
LIB_OBJS += common/image.o
LIB_OBJS += common/json.o
LIB_OBJS += common/keys.o
LIB_OBJS += common/log.o
LIB_OBJS += common/maint.o
LIB_OBJS += common/media.o
LIB_OBJS += common/migrate.o
LIB_OBJS += common/metrics.o
LIB_OBJS += common/multipart.o
LIB_OBJS += common/mxc.o
LIB_OBJS += common/net.o
LIB_OBJS += common/preview.o
LIB_OBJS += common/preview_charset.o
LIB_OBJS += common/preview_html.o
LIB_OBJS += common/preview_resolve.o
LIB_OBJS += common/preview_url.o
LIB_OBJS += common/resample.o
LIB_OBJS += common/serve_admin.o
LIB_OBJS += common/s3.o
LIB_OBJS += common/s3_sign.o
LIB_OBJS += common/s3_xml.o
LIB_OBJS += common/serve_media.o
LIB_OBJS += common/slot.o
LIB_OBJS += common/store.o
LIB_OBJS += common/store_pg.o
LIB_OBJS += common/store_sqlite.o
LIB_OBJS += common/synapse_import.o
LIB_OBJS += common/thumb.o
LIB_OBJS += common/thumb_anim.o
LIB_OBJS += common/util.o

PROGRAMS += cgi-bin/admin.fcgi
PROGRAMS += cgi-bin/config.fcgi
PROGRAMS += cgi-bin/create.fcgi
PROGRAMS += cgi-bin/download.fcgi
PROGRAMS += cgi-bin/federation_download.fcgi
PROGRAMS += cgi-bin/federation_thumbnail.fcgi
PROGRAMS += cgi-bin/keys.fcgi
PROGRAMS += cgi-bin/preview_url.fcgi
PROGRAMS += cgi-bin/thumbnail.fcgi
PROGRAMS += cgi-bin/unrecognized.fcgi
PROGRAMS += cgi-bin/upload.fcgi

UNIT_TESTS += tests/unit/test_admin
UNIT_TESTS += tests/unit/test_auth
UNIT_TESTS += tests/unit/test_blob
UNIT_TESTS += tests/unit/test_config
UNIT_TESTS += tests/unit/test_fed
UNIT_TESTS += tests/unit/test_fed_discover
UNIT_TESTS += tests/unit/test_http
UNIT_TESTS += tests/unit/test_image
UNIT_TESTS += tests/unit/test_json
UNIT_TESTS += tests/unit/test_keys
UNIT_TESTS += tests/unit/test_log
UNIT_TESTS += tests/unit/test_maint
UNIT_TESTS += tests/unit/test_media
UNIT_TESTS += tests/unit/test_metrics
UNIT_TESTS += tests/unit/test_multipart
UNIT_TESTS += tests/unit/test_preview
UNIT_TESTS += tests/unit/test_preview_charset
UNIT_TESTS += tests/unit/test_preview_html
UNIT_TESTS += tests/unit/test_preview_resolve
UNIT_TESTS += tests/unit/test_preview_url
UNIT_TESTS += tests/unit/test_mxc
UNIT_TESTS += tests/unit/test_resample
UNIT_TESTS += tests/unit/test_s3_sign
UNIT_TESTS += tests/unit/test_s3_xml
UNIT_TESTS += tests/unit/test_slot
UNIT_TESTS += tests/unit/test_store
UNIT_TESTS += tests/unit/test_thumb
UNIT_TESTS += tests/unit/test_thumb_anim
UNIT_TESTS += tests/unit/test_thumb_sandbox
UNIT_TESTS += tests/unit/test_util
UNIT_TESTS += tests/unit/test_whoami
UNIT_TESTS += tests/unit/test_xmatrix

LIB = $(O)common/libmediarepo.a
ADMIN = $(O)tools/mediarepo-admin
SPAWN = $(O)tools/mediarepo-spawn
HEADERS = $(wildcard common/*.h) common/migrations.h common/migrations_pg.h
# Migrations per SQL dialect; the SQLite ones are compiled into the programs.
MIGRATIONS = $(sort $(wildcard sql/sqlite/[0-9][0-9][0-9]_*.sql))
PG_MIGRATIONS = $(sort $(wildcard sql/postgres/[0-9][0-9][0-9]_*.sql))

.PHONY: all deps run test unit-test asan-test e2e-test cgi-test bench clean fuzz \
	e2e-test-servers e2e-test-all install deb e2e-test-pg e2e-test-s3 \
	e2e-test-scale
.DELETE_ON_ERROR:
# Keep objects of programs, so a rebuild relinks only what changed.
.SECONDARY:

all: $(LIB) $(addprefix $(O),$(PROGRAMS)) $(ADMIN) $(SPAWN)

# The schema is compiled in, so a program never depends on finding sql/:
# $(call migrations_h,DIALECT DIR,ARRAY NAME,COUNT MACRO,FILES).
define migrations_h
	@{ echo '/* generated from $(1) by the Makefile; do not edit */'; \
	  echo 'static const char *const $(2)[] = {'; \
	  for f in $(4); do \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $$f; \
	    echo ','; \
	  done; \
	  echo '};'; \
	  echo '#define $(3) ((int)(sizeof($(2)) / sizeof($(2)[0])))'; \
	} > $@
endef

common/migrations.h: $(MIGRATIONS) Makefile
	$(call migrations_h,sql/sqlite/,mr_migrations,MR_MIGRATIONS_COUNT,$(MIGRATIONS))

# The same for PostgreSQL (common/store_pg.c).
common/migrations_pg.h: $(PG_MIGRATIONS) Makefile
	$(call migrations_h,sql/postgres/,mr_pg_migrations,MR_PG_MIGRATIONS_COUNT,$(PG_MIGRATIONS))

$(O)%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# This test includes the module's source to reach its static functions.
$(O)tests/unit/test_thumb_sandbox.o: common/thumb.c
$(O)tests/unit/test_metrics.o: common/metrics.c

$(LIB): $(addprefix $(O),$(LIB_OBJS))
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)cgi-bin/%.fcgi: $(O)cgi-bin/%.o $(LIB)
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(ADMIN): $(O)tools/mediarepo-admin.o $(LIB)
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(SPAWN): $(O)tools/mediarepo-spawn.o $(LIB)
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(O)tests/unit/%: $(O)tests/unit/%.o $(LIB)
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Installs only what is missing, so a ready machine never touches apt.
deps:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: deps
	$(MAKE) all
	tools/mediarepo-run

unit-test: $(addprefix $(O),$(UNIT_TESTS))
	@for t in $^; do echo "== $$t"; $$t || exit 1; done

asan-test:
	$(MAKE) O=build/asan/ CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -U_FORTIFY_SOURCE" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" unit-test

cgi-test: all
	tests/cgi/test_cgi.sh

# matrix-js-sdk for tests/e2e/test_js_sdk.py, exactly as locked; npm ci
# writes node_modules/.package-lock.json, so it runs again only when the
# lock file changes. Without npm the test is skipped.
JS_SDK = tests/e2e/js/node_modules/.package-lock.json

e2e-test: all $(JS_SDK)
	cd tests/e2e && /usr/bin/python3 -m pytest -q -p no:cacheprovider

# The same programs behind Apache (mod_fcgid) and nginx: the modules that
# exercise what a web server changes (bodies, file sending, routing, errors).
E2E_SERVER_SUBSET = test_upload.py test_download.py test_routes.py \
	test_async.py test_thumbnail.py test_stack.py test_install.py \
	test_abuse.py test_keys.py test_disk_full.py test_synapse_admin.py
e2e-test-servers: all
	cd tests/e2e && MR_WEBSERVERS=apache,nginx /usr/bin/python3 -m pytest \
	  -q -p no:cacheprovider $(E2E_SERVER_SUBSET)

# The storage-relevant modules with blobs in S3: a one-node Ceph RADOS
# Gateway started by the tests (tests/e2e/cephrgw.py), behind lighttpd.
E2E_S3_SUBSET = test_upload.py test_download.py test_thumbnail.py \
	test_async.py test_admin.py test_crash.py test_s3.py
e2e-test-s3: all
	cd tests/e2e && MR_BLOB=s3 /usr/bin/python3 -m pytest -q \
	  -p no:cacheprovider $(E2E_S3_SUBSET)

# The whole suite under each web server in turn, one pytest run each:
# session-wide fixtures (test_federation's peers) then start fresh per server.
e2e-test-all: all $(JS_SDK)
	@rc=0; for w in lighttpd apache nginx; do echo "== e2e behind $$w"; \
	  (cd tests/e2e && MR_WEBSERVERS=$$w /usr/bin/python3 -m pytest -q \
	    -p no:cacheprovider) || rc=1; done; exit $$rc

# The modules that exercise the store, with every stack on PostgreSQL
# (MR_STORE=pg: one server started by the tests, a database per stack),
# behind lighttpd; test_scale_pg (outage, migrate-store, two hosts) runs
# in every e2e run anyway. Of test_abuse (the slots, mostly) only the
# shared limits: a rate limit and the upload quota; of test_thumbnail the
# cases that race processes on one media (the thumbnail lease, the cap).
E2E_PG_SUBSET = test_upload.py test_download.py test_async.py \
	test_admin.py test_freeze.py test_scale_pg.py \
	test_synapse_admin.py test_metrics.py \
	test_abuse.py::test_create_rate_limit_per_user \
	test_abuse.py::test_upload_quota_refuses_and_keeps_nothing \
	test_thumbnail.py::test_dynamic_same_new_size_in_parallel \
	test_thumbnail.py::test_one_generation_for_32_identical_requests \
	test_thumbnail.py::test_dynamic_cap_holds_under_parallel_requests
e2e-test-pg: all
	cd tests/e2e && MR_STORE=pg MR_WEBSERVERS=lighttpd /usr/bin/python3 \
	  -m pytest -q -p no:cacheprovider $(E2E_PG_SUBSET)

# What many hosts run: every stack on PostgreSQL and S3 at once
# (MR_STORE=pg MR_BLOB=s3), the modules that exercise the store and the
# blobs, behind lighttpd. make test runs this one; e2e-test-pg and
# e2e-test-s3 try one backend alone. test_scale_pg, test_s3 and
# test_scale_out (two hosts on one database and one bucket) run in every
# e2e run anyway.
E2E_SCALE_SUBSET = test_upload.py test_download.py test_thumbnail.py \
	test_async.py test_admin.py test_synapse_admin.py test_freeze.py \
	test_crash.py test_abuse.py
e2e-test-scale: all
	cd tests/e2e && MR_STORE=pg MR_BLOB=s3 MR_WEBSERVERS=lighttpd \
	  /usr/bin/python3 -m pytest -q -p no:cacheprovider $(E2E_SCALE_SUBSET)

$(JS_SDK): tests/e2e/js/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd tests/e2e/js && npm ci --no-audit --no-fund; \
	else echo "npm not found: the matrix-js-sdk test will be skipped"; fi

test: deps
	$(MAKE) all
	$(MAKE) unit-test
	$(MAKE) asan-test
	$(MAKE) fuzz-replay
	$(MAKE) cgi-test
	$(MAKE) e2e-test
	$(MAKE) e2e-test-servers
	$(MAKE) e2e-test-scale

# make install [PREFIX=/usr/local] [DESTDIR=]: programs, tools, schema,
# web server configs and systemd units; an example config in /etc/mediarepo
# unless one is there; the data directory /var/lib/mediarepo.
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc/mediarepo
STATEDIR ?= /var/lib/mediarepo
install: all
	install -d $(DESTDIR)$(PREFIX)/lib/mediarepo $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/share/mediarepo/sql/sqlite \
	  $(DESTDIR)$(PREFIX)/share/mediarepo/sql/postgres \
	  $(DESTDIR)$(PREFIX)/share/mediarepo/httpd-conf/errors \
	  $(DESTDIR)$(PREFIX)/share/mediarepo/httpd-conf/systemd \
	  $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(SYSCONFDIR)
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/lib/mediarepo/
	install -m 755 $(ADMIN) $(SPAWN) tools/mediarepo-run $(DESTDIR)$(PREFIX)/bin/
	install -m 644 sql/sqlite/*.sql $(DESTDIR)$(PREFIX)/share/mediarepo/sql/sqlite/
	install -m 644 sql/postgres/*.sql $(DESTDIR)$(PREFIX)/share/mediarepo/sql/postgres/
	install -m 644 httpd-conf/*.in $(DESTDIR)$(PREFIX)/share/mediarepo/httpd-conf/
	install -m 644 httpd-conf/errors/* \
	  $(DESTDIR)$(PREFIX)/share/mediarepo/httpd-conf/errors/
	install -m 644 httpd-conf/systemd/* \
	  $(DESTDIR)$(PREFIX)/share/mediarepo/httpd-conf/systemd/
	sed -e 's|@LIBDIR@|$(PREFIX)/lib/mediarepo|g' -e 's|@BINDIR@|$(PREFIX)/bin|g' \
	  -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' httpd-conf/systemd/mediarepo@.service.in \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/mediarepo@.service
	@# Retention, daily: systemctl enable --now mediarepo-purge-expired.timer
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  httpd-conf/systemd/mediarepo-purge-expired.service.in \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/mediarepo-purge-expired.service
	install -m 644 httpd-conf/systemd/mediarepo-purge-expired.timer \
	  $(DESTDIR)$(PREFIX)/lib/systemd/system/
	@# Garbage collection, weekly: systemctl enable --now mediarepo-gc.timer
	sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  httpd-conf/systemd/mediarepo-gc.service.in \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/mediarepo-gc.service
	install -m 644 httpd-conf/systemd/mediarepo-gc.timer \
	  $(DESTDIR)$(PREFIX)/lib/systemd/system/
	@# Never overwrite an operator's config; data paths point at STATEDIR.
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/mediarepo.conf ]; then \
	  $(ADMIN) init-config $(DESTDIR)$(SYSCONFDIR)/mediarepo.conf.tmp \
	    example.org > /dev/null && \
	  sed -e 's|^#media_store_path = .*|media_store_path = $(STATEDIR)/media_store|' \
	    -e 's|^#database_path = .*|database_path = $(STATEDIR)/mediarepo.db|' \
	    -e 's|^#signing_key_path = .*|signing_key_path = $(STATEDIR)/signing.key|' \
	    -e 's|^#runtime_dir = .*|runtime_dir = /run/mediarepo|' \
	    $(DESTDIR)$(SYSCONFDIR)/mediarepo.conf.tmp \
	    > $(DESTDIR)$(SYSCONFDIR)/mediarepo.conf && \
	  rm -f $(DESTDIR)$(SYSCONFDIR)/mediarepo.conf.tmp && \
	  echo "  wrote $(DESTDIR)$(SYSCONFDIR)/mediarepo.conf (set server_name)"; \
	fi
	install -d -m 750 $(DESTDIR)$(STATEDIR) $(DESTDIR)$(STATEDIR)/media_store
	@# The programs run as the mediarepo system user (group www-data, so
	@# the web server reads media); only when installing for real.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && id www-data >/dev/null 2>&1; then \
	  id mediarepo > /dev/null 2>&1 || useradd --system --gid www-data \
	    --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	    mediarepo; \
	  chown -R mediarepo:www-data $(STATEDIR); fi

# make deb [DEB_VERSION=]: mediarepo_VERSION_ARCH.deb with dpkg-deb, of
# what make install puts under /usr: programs in /usr/lib/mediarepo, the
# tools in /usr/bin, the config as a conffile in /etc/mediarepo, the web
# server templates in /usr/share/mediarepo, the systemd units. postinst
# makes the mediarepo user and /var/lib/mediarepo (pkg/deb/). Depends comes
# from dpkg-shlibdeps on the binaries, plus libgd3 (dlopen'ed by
# common/thumb.c, so no binary names it) and passwd (useradd in postinst).
DEB_VERSION ?= 0.1.0
DEB_ARCH = $(shell dpkg --print-architecture)
DEB = mediarepo_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_DIR = build/deb
DEB_ROOT = $(DEB_DIR)/root
DEB_BINS = $(DEB_ROOT)/usr/lib/mediarepo/*.fcgi \
	$(DEB_ROOT)/usr/bin/mediarepo-admin $(DEB_ROOT)/usr/bin/mediarepo-spawn
deb: all
	rm -rf $(DEB_DIR) $(DEB) && mkdir -p $(DEB_ROOT)/DEBIAN $(DEB_DIR)/debian
	$(MAKE) -s install DESTDIR=$(CURDIR)/$(DEB_ROOT) PREFIX=/usr > /dev/null
	@# Made by postinst, owned by the programs' user, never by dpkg.
	rm -rf $(DEB_ROOT)/var
	strip --strip-unneeded --remove-section=.comment \
	  --remove-section=.note $(DEB_BINS)
	install -d $(DEB_ROOT)/usr/share/doc/mediarepo
	install -m 644 pkg/deb/copyright $(DEB_ROOT)/usr/share/doc/mediarepo/
	sed 's|@VERSION@|$(DEB_VERSION)|' pkg/deb/changelog.in | gzip -9n \
	  > $(DEB_ROOT)/usr/share/doc/mediarepo/changelog.gz
	install -m 755 pkg/deb/postinst pkg/deb/prerm pkg/deb/postrm \
	  $(DEB_ROOT)/DEBIAN/
	echo /etc/mediarepo/mediarepo.conf > $(DEB_ROOT)/DEBIAN/conffiles
	@# dpkg-shlibdeps wants a debian/control naming the package.
	printf 'Source: mediarepo\n\nPackage: mediarepo\nArchitecture: any\n' \
	  > $(DEB_DIR)/debian/control
	cd $(DEB_DIR) && dpkg-shlibdeps -O $(DEB_BINS:$(DEB_DIR)/%=%) \
	  2> /dev/null | sed -n 's/^shlibs:Depends=//p' > depends
	test -s $(DEB_DIR)/depends
	sed -e 's|@VERSION@|$(DEB_VERSION)|' -e 's|@ARCH@|$(DEB_ARCH)|' \
	  -e "s|@SIZE@|$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)|" \
	  -e "s|@DEPENDS@|$$(cat $(DEB_DIR)/depends), libgd3, passwd|" \
	  pkg/deb/control.in > $(DEB_ROOT)/DEBIAN/control
	cd $(DEB_ROOT) && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | \
	  LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $(DEB)

# Fuzzers (libFuzzer). Each NAME in FUZZERS is tests/fuzz/fuzz_NAME.c
# linked with the sources FUZZ_NAME lists, seeded from tests/fuzz/corpus/NAME/;
# a new one is a FUZZERS line and a FUZZ_NAME line. Objects are built once,
# under build/fuzz/obj with clang and the sanitizers, for every target.
#   make fuzz [FUZZ_SECONDS=30]   each target fuzzes a copy of its corpus
#   make fuzz-replay              as make test: replays every corpus, then
#                                 fuzzes each for FUZZ_REPLAY_SECONDS (3)
# Any crash, leak, timeout or sanitizer report fails the run; the input
# that did it is left in build/fuzz/ (crash-*, leak-*, timeout-*).
FUZZERS += admin
FUZZERS += canonical
FUZZERS += config
FUZZERS += content_type
FUZZERS += image
FUZZERS += image_exif
FUZZERS += image_isobmff
FUZZERS += image_tiff
FUZZERS += multipart
FUZZERS += net
FUZZERS += preview_html
FUZZERS += preview_url
FUZZERS += route
FUZZERS += s3_xml
FUZZERS += server_name
FUZZERS += xmatrix

# What common/http.c needs besides itself.
FUZZ_HTTP_DEPS = common/auth.c common/auth_whoami.c common/auth_xmatrix.c \
	common/blob.c common/blob_fs.c common/blob_s3.c \
	common/s3.c common/s3_sign.c common/s3_xml.c \
	common/config.c common/ctx.c common/fed.c common/fed_discover.c \
	common/header.c common/http_client.c common/image.c common/json.c \
	common/keys.c common/log.c common/multipart.c common/mxc.c common/net.c \
	common/preview_url.c common/slot.c common/store.c common/store_sqlite.c \
	common/store_pg.c common/util.c
FUZZ_HTTP_DEPS += common/metrics.c

FUZZ_admin = common/admin_api.c common/mxc.c common/util.c
FUZZ_LIBS_admin = $(shell pkg-config --libs libsodium 2>/dev/null)
FUZZ_canonical = common/json.c common/util.c
# fuzz_config.c includes common/config.c to reach its line parser.
FUZZ_config = common/image.c common/mxc.c common/net.c common/preview_url.c \
	common/util.c
FUZZ_content_type = common/header.c common/util.c
FUZZ_image = common/image.c common/util.c
FUZZ_image_exif = $(FUZZ_image)
FUZZ_image_isobmff = $(FUZZ_image)
FUZZ_image_tiff = $(FUZZ_image)
FUZZ_multipart = common/multipart.c common/util.c
FUZZ_net = common/net.c common/util.c
FUZZ_preview_html = common/preview_charset.c common/preview_html.c \
	common/preview_resolve.c common/util.c
FUZZ_preview_url = common/preview_url.c common/net.c common/util.c
# fuzz_route.c includes common/http.c to reach its query and path parsers.
FUZZ_route = $(FUZZ_HTTP_DEPS)
FUZZ_s3_xml = common/s3_xml.c common/util.c
FUZZ_server_name = common/mxc.c common/util.c
FUZZ_xmatrix = common/auth_xmatrix.c common/json.c common/keys.c \
	common/mxc.c common/util.c
# A target may name its libraries (FUZZ_LIBS_NAME) instead of all of LIBS,
# which shows what it does not depend on: X-Matrix needs no SQLite or curl.
FUZZ_LIBS_xmatrix = $(shell pkg-config --libs libsodium libcrypto libcjson \
	2>/dev/null)

FUZZ_DIR = build/fuzz
FUZZ_SECONDS ?= 30
FUZZ_REPLAY_SECONDS ?= 3
FUZZ_CFLAGS = -g -O1 -D_GNU_SOURCE -Wno-macro-redefined \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	$(shell pkg-config --cflags $(PKG_LIBS) gdlib 2>/dev/null)
FUZZ_BINS = $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZERS))

.PHONY: fuzz-build fuzz-replay fuzz-clang

fuzz-clang:
	@command -v clang > /dev/null || $(MAKE) deps

fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: %.c $(HEADERS) | fuzz-clang
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $@"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# The objects of fuzz_NAME, looked up by name when the rule is used (so
# after every FUZZ_NAME is set).
fuzz_objs = $(addprefix $(FUZZ_DIR)/obj/,tests/fuzz/fuzz_$(1).o \
	$(FUZZ_$(1):.c=.o))
.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: $$(call fuzz_objs,$$*)
	@echo "  LINK    $@"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ \
	  $(or $(FUZZ_LIBS_$*),$(LIBS))

# $(call fuzz_run,SECONDS): per target, the corpus is copied, replayed
# (-runs=0: every input once, no mutation), then fuzzed for SECONDS.
define fuzz_run
	@for f in $(FUZZERS); do \
	  bin=$(FUZZ_DIR)/fuzz_$$f; c=$(FUZZ_DIR)/corpus_$$f; log=$$bin.log; \
	  echo "== fuzz_$$f: replay, then $(1) s"; \
	  rm -rf $$c && mkdir -p $$c && cp tests/fuzz/corpus/$$f/* $$c/ || exit 1; \
	  { $$bin -runs=0 -artifact_prefix=$(FUZZ_DIR)/ $$c && \
	    $$bin -max_total_time=$(1) -print_final_stats=1 \
	      -artifact_prefix=$(FUZZ_DIR)/ $$c; } > $$log 2>&1 || { \
	    tail -40 $$log; echo "fuzz_$$f failed: see $$log"; exit 1; }; \
	  grep "number_of_executed_units" $$log; \
	done
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-replay: fuzz-build
	$(call fuzz_run,$(FUZZ_REPLAY_SECONDS))

bench: deps
	$(MAKE) all
	bench/download
	bench/upload

clean:
	rm -rf build mediarepo_*.deb common/*.o common/*.a common/migrations.h \
	  common/migrations_pg.h cgi-bin/*.o \
	  cgi-bin/*.fcgi tools/*.o tools/mediarepo-admin tools/mediarepo-spawn \
	  tests/unit/*.o \
	  $(UNIT_TESTS)
