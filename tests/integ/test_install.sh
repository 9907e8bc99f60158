#!/bin/sh
# make install into a DESTDIR: the files land where PREFIX says, the shared
# library has its soname, pkg-config finds it, a program builds against
# the installed headers and library alone and runs against a daemon, and
# the systemd units pass systemd-analyze verify.
. tests/helpers/lib.sh

: "${ASYNCD_SRCDIR:=$(pwd)}"
root=$_TESTD_TMP/root
prefix=/usr
obj=$_TESTD_TMP/build

# A plain build of its own: the tree under test may be a sanitizer build.
make -s -C "$ASYNCD_SRCDIR" BUILD="$obj" PREFIX="$prefix" DESTDIR="$root" \
    install > "$_TESTD_TMP/make.log" 2>&1 ||
    { cat "$_TESTD_TMP/make.log" >&2; fail "make install failed"; }
pass

for f in sbin/asyncd bin/asyncctl lib/libasyncd.a lib/libasyncd.so \
    lib/libasyncd.so.0 include/asyncd.h include/asyncd_err.h \
    lib/pkgconfig/asyncd.pc lib/systemd/system/asyncd.service \
    lib/systemd/user/asyncd.service lib/sysusers.d/asyncd.conf \
    lib/tmpfiles.d/asyncd.conf share/doc/asyncd/README.md \
    share/doc/asyncd/PROTOCOL.md; do
	[ -e "$root$prefix/$f" ] || fail "make install did not install $f"
	pass
done
assert_eq 755 "$(stat -c %a "$root$prefix/sbin/asyncd")" "asyncd mode"

soname=$(objdump -p "$root$prefix/lib/libasyncd.so" |
    awk '$1 == "SONAME" { print $2 }')
assert_eq libasyncd.so.0 "$soname" "soname"
# Only the public API is exported.
if nm -D --defined-only "$root$prefix/lib/libasyncd.so" |
    awk '$2 ~ /[TD]/ { print $3 }' | grep -v '^asyncd_' | grep -q .; then
	fail "libasyncd.so exports symbols outside asyncd_*"
fi
pass

# A program built from the installed files alone.
export PKG_CONFIG_SYSROOT_DIR="$root"
export PKG_CONFIG_LIBDIR="$root$prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs asyncd) || fail "pkg-config asyncd"
assert_match -lasyncd "$flags" "pkg-config --libs"
cc -std=c11 -Wall -Werror -o "$_TESTD_TMP/demo" \
    "$ASYNCD_SRCDIR/examples/future_demo.c" $flags -pthread ||
    fail "examples/future_demo.c does not build against the install"
pass
ldd "$_TESTD_TMP/demo" | grep -q "libasyncd.so.0 => $root" ||
    LD_LIBRARY_PATH=$root$prefix/lib ldd "$_TESTD_TMP/demo" |
    grep -q "libasyncd.so.0 => $root" || fail "demo not linked to .so.0"
pass

# It runs against the installed daemon.
BUILD=$root$prefix
"$root$prefix/sbin/asyncd" --socket "ipc://$_TESTD_TMP/d.sock" \
    --state-dir "$_TESTD_TMP/state" 2> "$_TESTD_TMP/d.log" &
dpid=$!
export ASYNCD_SOCKET="ipc://$_TESTD_TMP/d.sock"
wait_for "$root$prefix/bin/asyncctl" ping
LD_LIBRARY_PATH=$root$prefix/lib "$_TESTD_TMP/demo" > "$_TESTD_TMP/out" ||
    { cat "$_TESTD_TMP/out" >&2; fail "future_demo failed"; }
pass
kill -TERM "$dpid"
wait "$dpid"
assert_eq 0 "$?" "installed asyncd exit status"

# The units, as installed (ExecStart points at the installed asyncd).
if command -v systemd-analyze >/dev/null; then
	for u in system/asyncd.service user/asyncd.service; do
		sed "s|$prefix/sbin/asyncd|$root$prefix/sbin/asyncd|" \
		    "$root$prefix/lib/systemd/$u" > "$_TESTD_TMP/asyncd.service"
		out=$(systemd-analyze verify "$_TESTD_TMP/asyncd.service" 2>&1)
		assert_eq "" "$out" "systemd-analyze verify $u"
	done
else
	echo "test_install.sh: no systemd-analyze; units not verified" >&2
fi
