# asyncd: a job daemon. See README.md.
#
#   make            build everything into $(BUILD) (default build/)
#   make check      build with ASan+UBSan into build/san and run every test
#   make check-stress  the integration tests 5 times beside a CPU hog on
#                   every core (STRESS_ROUNDS=5); run it before landing
#   make demo       start a daemon on a temporary socket and show it off
#   make bench      measure round trips and throughput against raw nng
#   make bench-exec exec jobs against raw posix_spawn only (ROUNDS=9)
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install the Debian packages the build needs (make
#                   deps-bench: and task-spooler, which make bench compares)

VERSION		= 0.1.0
SOVERSION	= 0
PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
UNITDIR		?= $(PREFIX)/lib/systemd
DOCDIR		?= $(PREFIX)/share/doc/asyncd
# Where a root daemon looks for plugins, whatever the PREFIX (main.c).
PLUGINDIR	?= /usr/lib/asyncd/plugins
DESTDIR		?=

BUILD		?= build
SANITIZER	?=
# V=1 shows the commands.
V		?= 0
ifeq ($(V),0)
Q		= @
say		= @printf '  %-6s %s\n' $(1) $(2);
else
Q		=
say		=
endif
CC		?= cc

CFLAGS		?= -O2 -g
WARNFLAGS	= -Wall -Wextra -Werror -Wformat=2 -Wmissing-prototypes -Wshadow
ALL_CPPFLAGS	= -D_GNU_SOURCE -DASYNCD_VERSION='"$(VERSION)"' \
		  -Iinclude -Iproto -Ilib -Idaemon $(CPPFLAGS)
ALL_CFLAGS	= -std=gnu11 $(WARNFLAGS) -fPIC -pthread $(CFLAGS) -MMD -MP
ALL_LDFLAGS	= -pthread $(LDFLAGS)
ifneq ($(SANITIZER),)
ALL_CFLAGS	+= -fsanitize=$(SANITIZER) -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all
ALL_LDFLAGS	+= -fsanitize=$(SANITIZER)
endif

LIBS_NNG	= -lnng
LIBS_DAEMON	= -lnng -lev -lcjson -lsystemd -lsqlite3 -lm
LIBS_CLIENT	= -lnng -lcjson -lm

ARCH		:= $(shell uname -m)
ifeq ($(ARCH),x86_64)
CORO_ASM	= daemon/coro_switch_x86_64.S
else ifeq ($(ARCH),aarch64)
CORO_ASM	= daemon/coro_switch_aarch64.S
else
CORO_ASM	=
ALL_CPPFLAGS	+= -DCORO_UCONTEXT
endif

PROTO_SRCS	= proto/err.c proto/proto.c proto/req.c proto/reply.c proto/base64.c \
		  proto/event.c proto/addr.c proto/sp.c
LIB_SRCS	= lib/client.c lib/direct.c lib/job.c lib/future.c lib/output.c
DAEMON_CORE_SRCS = daemon/log.c daemon/xmalloc.c daemon/inbox.c \
		  daemon/coro.c daemon/jobtab.c daemon/job.c daemon/sched.c \
		  daemon/ad.c daemon/registry.c daemon/builtin.c \
		  daemon/pool_thread.c daemon/waiter.c daemon/ids.c \
		  daemon/proc.c daemon/outlog.c daemon/exec.c daemon/acl.c \
		  daemon/jobsd.c daemon/store.c daemon/plugin.c \
		  daemon/pool_proc.c daemon/worker.c daemon/sock.c
DAEMON_SRCS	= $(DAEMON_CORE_SRCS) daemon/main.c daemon/server.c daemon/conn.c \
		  daemon/events.c daemon/probe.c daemon/cmd.c \
		  daemon/cmd_ping.c \
		  daemon/cmd_submit.c daemon/cmd_wait.c daemon/cmd_status.c \
		  daemon/cmd_list.c daemon/cmd_cancel.c daemon/cmd_types.c \
		  daemon/cmd_stats.c daemon/cmd_shutdown.c daemon/cmd_output.c \
		  daemon/cmd_forget.c
CLIENT_SRCS	= client/asyncctl.c client/output.c client/follow.c

obj		= $(patsubst %.c,$(BUILD)/%.o,$(patsubst %.S,$(BUILD)/%.o,$(1)))

PROTO_OBJS	= $(call obj,$(PROTO_SRCS))
LIB_OBJS	= $(call obj,$(LIB_SRCS))
DAEMON_CORE_OBJS = $(call obj,$(DAEMON_CORE_SRCS) $(CORO_ASM))
DAEMON_OBJS	= $(call obj,$(DAEMON_SRCS) $(CORO_ASM))
CLIENT_OBJS	= $(call obj,$(CLIENT_SRCS))

PROTO_A		= $(BUILD)/libproto.a
LIB_A		= $(BUILD)/libasyncd.a
LIB_SO		= $(BUILD)/libasyncd.so.$(VERSION)
LIB_SONAME	= libasyncd.so.$(SOVERSION)
ASYNCD		= $(BUILD)/asyncd
ASYNCCTL	= $(BUILD)/asyncctl

UNIT_TESTS	= test_proto test_coro test_inbox test_jobtab test_sched \
		  test_pool_thread test_protocol_doc test_client test_ids
UNIT_BINS	= $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
INTEG_BINS	= $(BUILD)/tests/test_lib $(BUILD)/tests/test_concurrency \
		  $(BUILD)/tests/test_wire
EXAMPLES	= $(BUILD)/examples/future_demo
# Plugins: the examples (examples/plugins/NAME/NAME.c) and the tests'.
EXAMPLE_PLUGINS	= hash primes crash fetch
TEST_PLUGINS	= t badabi failreg taken
PLUGIN_SOS	= $(patsubst %,$(BUILD)/plugins/%.so,$(EXAMPLE_PLUGINS)) \
		  $(patsubst %,$(BUILD)/tests/plugins/%.so,$(TEST_PLUGINS))
BENCH_BINS	= $(BUILD)/bench/bench_asyncd $(BUILD)/bench/bench_nng \
		  $(BUILD)/bench/bench_spawn $(BUILD)/bench/bench_pools \
		  $(BUILD)/bench/bench_fetch

.PHONY: all check check-thread check-aarch64 demo bench bench-exec install \
	uninstall \
	deps deps-bench clean tests valgrind check-stress
UNITS		= $(BUILD)/systemd/asyncd.service \
		  $(BUILD)/systemd/asyncd-user.service

all: $(ASYNCD) $(ASYNCCTL) $(LIB_A) $(LIB_SO) $(BUILD)/asyncd.pc $(EXAMPLES) \
    $(UNITS) $(BUILD)/asyncd-plugin.pc $(filter $(BUILD)/plugins/%,$(PLUGIN_SOS))

# ---- compiling ----------------------------------------------------------

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(call say,CC,$@)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.S
	@mkdir -p $(@D)
	$(call say,AS,$@)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(PROTO_A): $(PROTO_OBJS)
	@rm -f $@
	$(call say,AR,$@)$(AR) rcs $@ $^

# libasyncd.a carries the protocol objects so that users link one archive.
$(LIB_A): $(LIB_OBJS) $(PROTO_OBJS)
	@rm -f $@
	$(call say,AR,$@)$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJS) $(PROTO_OBJS) lib/asyncd.map
	$(call say,LD,$@)$(CC) -shared -Wl,-soname,$(LIB_SONAME) \
	    -Wl,--version-script=lib/asyncd.map $(ALL_LDFLAGS) \
	    -o $@ $(filter %.o,$^) $(LIBS_CLIENT)
	$(Q)ln -sf $(notdir $@) $(BUILD)/$(LIB_SONAME)
	$(Q)ln -sf $(notdir $@) $(BUILD)/libasyncd.so

# Plugins see the SDK's symbols, and only those (daemon/asyncd.dynlist).
$(ASYNCD): $(DAEMON_OBJS) $(PROTO_A) daemon/asyncd.dynlist
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) \
	    -Wl,--dynamic-list=daemon/asyncd.dynlist -o $@ \
	    $(filter-out %.dynlist,$^) $(LIBS_DAEMON)

# asyncctl links libasyncd like any other program; statically, so that it
# runs from the build tree.
$(ASYNCCTL): $(CLIENT_OBJS) $(LIB_A)
	$(call say,LD,$@)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CLIENT)

# The generated files name the installation directories, so they depend on
# a stamp holding their values, written only when one changes: `make
# install PREFIX=/x` after `make` regenerates them, and a `make` that changes
# nothing rebuilds (or writes) nothing.
DIRS_VARS	= PREFIX BINDIR SBINDIR LIBDIR INCLUDEDIR UNITDIR DOCDIR VERSION \
		  PLUGINDIR
DIRS_STAMP	= $(BUILD)/dirs.stamp

$(DIRS_STAMP): FORCE
	@mkdir -p $(@D)
	@new=$$(printf '%s\n' $(foreach v,$(DIRS_VARS),'$(v)=$($(v))')); \
	    [ "$$new" = "$$(cat $@ 2>/dev/null)" ] || \
	    printf '%s\n' "$$new" > $@

FORCE:

$(BUILD)/asyncd.pc: lib/asyncd.pc.in Makefile $(DIRS_STAMP)
	$(call say,GEN,$@)sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
	    $< > $@

$(BUILD)/systemd/%: systemd/%.in Makefile $(DIRS_STAMP)
	@mkdir -p $(@D)
	$(call say,GEN,$@)sed -e 's|@SBINDIR@|$(SBINDIR)|g; s|@DOCDIR@|$(DOCDIR)|g' $< > $@

$(BUILD)/examples/%: examples/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(call say,CCLD,$@)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) \
	    -o $@ $(filter-out %.h,$^) $(LIBS_CLIENT)

# A plugin is built as a user would build it: only the SDK's headers.
PLUGIN_CPPFLAGS	= -D_GNU_SOURCE -Iinclude -Iproto
LIBS_hash	= -lcrypto

$(BUILD)/plugins/%.so: examples/plugins/%/*.c include/asyncd/plugin.h
	@mkdir -p $(@D)
	$(call say,CCLD,$@)$(CC) -shared $(PLUGIN_CPPFLAGS) $(ALL_CFLAGS) \
	    $(ALL_LDFLAGS) -o $@ $(filter %.c,$^) -lcjson $(LIBS_$*)

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c include/asyncd/plugin.h
	@mkdir -p $(@D)
	$(call say,CCLD,$@)$(CC) -shared $(PLUGIN_CPPFLAGS) $(ALL_CFLAGS) \
	    $(ALL_LDFLAGS) -o $@ $< -lcjson

$(BUILD)/asyncd-plugin.pc: include/asyncd-plugin.pc.in Makefile $(DIRS_STAMP)
	$(call say,GEN,$@)sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
	    -e 's|@PLUGINDIR@|$(PLUGINDIR)|' $< > $@

# ---- tests -------------------------------------------------------------

TEST_LIBS	= -lcmocka

$(BUILD)/tests/test_proto: tests/unit/test_proto.c $(PROTO_A)
$(BUILD)/tests/test_protocol_doc: tests/unit/test_protocol_doc.c $(PROTO_A)
$(BUILD)/tests/test_coro: tests/unit/test_coro.c $(call obj,daemon/coro.c $(CORO_ASM))
$(BUILD)/tests/test_inbox: tests/unit/test_inbox.c $(DAEMON_CORE_OBJS) $(PROTO_A)
$(BUILD)/tests/test_jobtab: tests/unit/test_jobtab.c $(DAEMON_CORE_OBJS) $(PROTO_A)
$(BUILD)/tests/test_sched: tests/unit/test_sched.c $(DAEMON_CORE_OBJS) $(PROTO_A)
$(BUILD)/tests/test_pool_thread: tests/unit/test_pool_thread.c $(DAEMON_CORE_OBJS) $(PROTO_A)
$(BUILD)/tests/test_ids: tests/unit/test_ids.c $(DAEMON_CORE_OBJS) $(PROTO_A)
$(BUILD)/tests/test_lib: tests/integ/test_lib.c tests/helpers/daemon.c $(LIB_A)
# test_concurrency runs submitter as separate client processes.
$(BUILD)/tests/test_concurrency: tests/integ/test_concurrency.c \
    tests/helpers/daemon.c $(LIB_A) | $(BUILD)/tests/submitter
$(BUILD)/tests/submitter: tests/helpers/submitter.c $(LIB_A)
# test_wire writes the SP bytes itself (proto/sp.c): no libasyncd.
$(BUILD)/tests/test_wire: tests/integ/test_wire.c tests/helpers/daemon.c \
    $(PROTO_A)
$(BUILD)/tests/loadgen: tests/helpers/loadgen.c $(LIB_A)
$(BUILD)/tests/bareconnect: tests/helpers/bareconnect.c
$(BUILD)/tests/tcpserv: tests/helpers/tcpserv.c
$(BUILD)/tests/test_client: tests/unit/test_client.c $(LIB_A)

$(BUILD)/tests/%:
	@mkdir -p $(@D)
	$(call say,CCLD,$@)$(CC) $(ALL_CPPFLAGS) -Itests/helpers $(ALL_CFLAGS) \
	    $(ALL_LDFLAGS) -o $@ $(filter-out %.h,$^) $(LIBS_DAEMON) $(TEST_LIBS)

tests: all $(UNIT_BINS) $(INTEG_BINS) $(BUILD)/tests/bareconnect \
    $(BUILD)/tests/loadgen $(BUILD)/tests/tcpserv $(PLUGIN_SOS)

# The sanitizer build lives in its own tree so it never mixes with $(BUILD).
SAN_BUILD	= build/san
NPROC		:= $(shell nproc 2>/dev/null || echo 1)
check: deps
	$(MAKE) -j$(NPROC) BUILD=$(SAN_BUILD) SANITIZER=address,undefined \
	    tests
	BUILD=$(SAN_BUILD) tests/run

# The integration tests STRESS_ROUNDS (5) times in a row beside a busy loop
# on every core, on the tree make check builds: a test that depends on
# timing fails here before it flakes in CI. Run it before landing.
STRESS_ROUNDS	?= 5
check-stress: deps
	$(MAKE) -j$(NPROC) BUILD=$(SAN_BUILD) SANITIZER=address,undefined \
	    tests
	BUILD=$(SAN_BUILD) STRESS_ROUNDS=$(STRESS_ROUNDS) scripts/stress.sh

# The threaded parts under ThreadSanitizer (not in check: it needs its own
# build of everything, and ASan and TSan cannot share one).
TSAN_BUILD	= build/tsan
TSAN_TESTS	= test_inbox test_pool_thread test_sched test_client
check-thread: deps
	$(MAKE) BUILD=$(TSAN_BUILD) SANITIZER=thread \
	    $(addprefix $(TSAN_BUILD)/tests/,$(TSAN_TESTS)) $(TSAN_BUILD)/asyncd
	@set -e; for t in $(TSAN_TESTS); do \
	    echo "tsan $$t"; TSAN_OPTIONS=halt_on_error=1 \
	    $(TSAN_BUILD)/tests/$$t >$(TSAN_BUILD)/$$t.log 2>&1 || \
	    { cat $(TSAN_BUILD)/$$t.log; exit 1; }; done

# The aarch64 register switch, cross-built and run under qemu (needs
# Debian's gcc-aarch64-linux-gnu and qemu-user; not part of check).
check-aarch64:
	@command -v aarch64-linux-gnu-gcc >/dev/null && \
	    command -v qemu-aarch64 >/dev/null || { echo "check-aarch64: \
	    apt-get install gcc-aarch64-linux-gnu qemu-user" >&2; exit 1; }
	@mkdir -p $(BUILD)/aarch64
	aarch64-linux-gnu-gcc -std=gnu11 $(WARNFLAGS) -D_GNU_SOURCE -O2 \
	    -static -Idaemon daemon/coro.c daemon/coro_switch_aarch64.S \
	    tests/unit/coro_smoke.c -lm -o $(BUILD)/aarch64/coro_smoke
	qemu-aarch64 $(BUILD)/aarch64/coro_smoke

valgrind: deps
	$(MAKE) tests
	BUILD=$(BUILD) VALGRIND=1 tests/run unit

demo: deps all
	BUILD=$(BUILD) scripts/demo.sh

# The exec figures alone, more rounds, memory-only and default durability.
bench-exec: deps all $(BUILD)/bench/bench_asyncd $(BUILD)/bench/bench_spawn
	BUILD=$(BUILD) bench/exec.sh

bench: deps-bench all $(BENCH_BINS) $(BUILD)/tests/loadgen \
    $(BUILD)/tests/plugins/t.so $(BUILD)/tests/tcpserv
	BUILD=$(BUILD) bench/run.sh
	BUILD=$(BUILD) bench/durability.sh

# The pools' bench runs the daemon's own pool code.
$(BUILD)/bench/bench_pools: bench/bench_pools.c bench/bench.h \
    $(DAEMON_CORE_OBJS) $(PROTO_A)
	@mkdir -p $(@D)
	$(call say,CCLD,$@)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) \
	    -o $@ $(filter-out %.h,$^) $(LIBS_DAEMON)

$(BUILD)/bench/%: bench/%.c bench/bench.h $(LIB_A)
	@mkdir -p $(@D)
	$(call say,CCLD,$@)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) \
	    -o $@ $(filter-out %.h,$^) $(LIBS_CLIENT)

deps:
	@scripts/deps.sh

deps-bench:
	@scripts/deps.sh bench

# ---- installing --------------------------------------------------------

# After the files, a word on finding libasyncd.so.0 at run time (nothing when
# DESTDIR is set: a package's own scripts run ldconfig). LIBDIR is compared
# with the directories `ldconfig -v -N` lists, by physical path since /lib
# and /usr/lib are one directory on merged-/usr systems. If it is one of
# them, root runs ldconfig and anyone else is told to; if not, the hint says
# how programs will find the library. Without ldconfig, nothing is said.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(ASYNCD) $(DESTDIR)$(SBINDIR)/asyncd
	install -m 755 $(ASYNCCTL) $(DESTDIR)$(BINDIR)/asyncctl
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libasyncd.a
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libasyncd.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libasyncd.so
	install -m 644 lib/asyncd.h proto/asyncd_err.h $(DESTDIR)$(INCLUDEDIR)/
	install -d $(DESTDIR)$(INCLUDEDIR)/asyncd
	install -m 644 include/asyncd/plugin.h $(DESTDIR)$(INCLUDEDIR)/asyncd/
	install -m 644 $(BUILD)/asyncd.pc $(BUILD)/asyncd-plugin.pc \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -d $(DESTDIR)$(UNITDIR)/system $(DESTDIR)$(UNITDIR)/user \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d \
	    $(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(DOCDIR)
	install -m 644 $(BUILD)/systemd/asyncd.service \
	    $(DESTDIR)$(UNITDIR)/system/
	install -m 644 $(BUILD)/systemd/asyncd-user.service \
	    $(DESTDIR)$(UNITDIR)/user/asyncd.service
	install -m 644 systemd/asyncd.sysusers \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d/asyncd.conf
	install -m 644 systemd/asyncd.tmpfiles \
	    $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/asyncd.conf
	install -m 644 README.md proto/PROTOCOL.md $(DESTDIR)$(DOCDIR)/
	install -d $(addprefix $(DESTDIR)$(DOCDIR)/examples/plugins/, \
	    $(EXAMPLE_PLUGINS))
	install -m 644 examples/plugins/Makefile \
	    $(DESTDIR)$(DOCDIR)/examples/plugins/
	for p in $(EXAMPLE_PLUGINS); do \
		install -m 644 examples/plugins/$$p/$$p.c \
		    $(DESTDIR)$(DOCDIR)/examples/plugins/$$p/ || exit 1; \
	done
	@[ -z '$(DESTDIR)' ] || exit 0; \
	ldconfig=$$(command -v ldconfig || echo /sbin/ldconfig); \
	[ -x "$$ldconfig" ] || exit 0; \
	libdir=$$(cd '$(LIBDIR)' && pwd -P) || exit 0; \
	searched=no; \
	for d in $$("$$ldconfig" -v -N 2>/dev/null | \
	    sed -n 's|^\(/[^:]*\):.*|\1|p'); do \
		[ "$$(cd "$$d" 2>/dev/null && pwd -P)" = "$$libdir" ] && \
		    searched=yes; \
	done; \
	if [ $$searched = no ]; then \
		echo "libasyncd installed in $(LIBDIR), which the dynamic" \
		    "linker does not search: run programs with" \
		    "LD_LIBRARY_PATH=$(LIBDIR), or add it to" \
		    "/etc/ld.so.conf.d and run ldconfig"; \
	elif [ "$$(id -u)" -eq 0 ]; then \
		echo "$$ldconfig"; "$$ldconfig" || \
		    echo "ldconfig failed: run it again to update the" \
		    "linker cache"; \
	else \
		echo "libasyncd installed in $(LIBDIR): run ldconfig (as" \
		    "root) to update the linker cache"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/asyncd $(DESTDIR)$(BINDIR)/asyncctl \
	    $(DESTDIR)$(LIBDIR)/libasyncd.a $(DESTDIR)$(LIBDIR)/libasyncd.so* \
	    $(DESTDIR)$(INCLUDEDIR)/asyncd.h \
	    $(DESTDIR)$(INCLUDEDIR)/asyncd_err.h \
	    $(DESTDIR)$(INCLUDEDIR)/asyncd/plugin.h \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/asyncd.pc \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/asyncd-plugin.pc \
	    $(DESTDIR)$(UNITDIR)/system/asyncd.service \
	    $(DESTDIR)$(UNITDIR)/user/asyncd.service \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d/asyncd.conf \
	    $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/asyncd.conf
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d)
