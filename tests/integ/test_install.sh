#!/bin/sh
# make install into a DESTDIR: the files land where PREFIX says, the shared
# library has its soname, pkg-config finds it, a program builds against
# the installed headers and library alone and runs against a daemon, and
# the systemd units pass systemd-analyze verify.
#
# `make` then `make install` with another prefix: the generated files
# (asyncd.pc, the units) name the prefix of the install, not the one of the
# build. With DESTDIR empty, install says whether the dynamic linker will
# find libasyncd. `make uninstall` removes every file.
. tests/helpers/lib.sh

: "${ASYNCD_SRCDIR:=$(pwd)}"
root=$_TESTD_TMP/root
prefix=/usr
obj=$_TESTD_TMP/build
# The prefix of a second install, straight into the file system.
x=$_TESTD_TMP/x
# The caller's environment must not choose the directories.
unset PREFIX BINDIR SBINDIR LIBDIR INCLUDEDIR UNITDIR DOCDIR DESTDIR

# mk LOG ARGS...: runs make in the source tree with ARGS, output in LOG.
mk() {
	_log=$1
	shift
	make -s -C "$ASYNCD_SRCDIR" BUILD="$obj" "$@" > "$_log" 2>&1 ||
	    { cat "$_log" >&2; fail "make $* failed"; }
	pass
}

# assert_has FILE TEXT MSG: a line of FILE contains TEXT (not a regex).
assert_has() {
	grep -qF -- "$2" "$1" ||
	    { cat "$1" >&2; fail "$3: no '$2' in $1"; }
	pass
}

# A plain build of its own (the tree under test may be a sanitizer build),
# with the default prefix, as a user who types `make` gets.
mk "$_TESTD_TMP/build.log"
assert_has "$obj/asyncd.pc" "prefix=/usr/local" "built asyncd.pc"
assert_has "$obj/systemd/asyncd.service" "ExecStart=/usr/local/sbin/asyncd" \
    "built asyncd.service"

# Then installed with another prefix into a DESTDIR, as a package is.
mk "$_TESTD_TMP/make.log" PREFIX="$prefix" DESTDIR="$root" install
if grep -q 'ldconfig\|dynamic linker' "$_TESTD_TMP/make.log"; then
	cat "$_TESTD_TMP/make.log" >&2
	fail "make install DESTDIR=... talks about the dynamic linker"
fi
pass
assert_has "$root$prefix/lib/pkgconfig/asyncd.pc" "prefix=$prefix" \
    "installed asyncd.pc"
assert_has "$root$prefix/lib/pkgconfig/asyncd.pc" "libdir=$prefix/lib" \
    "installed asyncd.pc"
for u in system user; do
	assert_has "$root$prefix/lib/systemd/$u/asyncd.service" \
	    "ExecStart=$prefix/sbin/asyncd" "installed $u unit"
	assert_has "$root$prefix/lib/systemd/$u/asyncd.service" \
	    "Documentation=file:$prefix/share/doc/asyncd/README.md" \
	    "installed $u unit"
done

for f in sbin/asyncd bin/asyncctl lib/libasyncd.a lib/libasyncd.so \
    lib/libasyncd.so.0 include/asyncd.h include/asyncd_err.h \
    lib/pkgconfig/asyncd.pc lib/systemd/system/asyncd.service \
    lib/systemd/user/asyncd.service lib/sysusers.d/asyncd.conf \
    lib/tmpfiles.d/asyncd.conf share/doc/asyncd/README.md \
    share/doc/asyncd/PROTOCOL.md include/asyncd/plugin.h \
    lib/pkgconfig/asyncd-plugin.pc share/doc/asyncd/examples/plugins/Makefile \
    share/doc/asyncd/examples/plugins/hash/hash.c \
    share/doc/asyncd/examples/plugins/primes/primes.c \
    share/doc/asyncd/examples/plugins/fetch/fetch.c \
    share/doc/asyncd/examples/plugins/crash/crash.c; do
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

# The example plugins, built from the installed sources with the installed
# SDK alone (pkg-config asyncd-plugin), as a plugin author builds one.
assert_match "^-I$root$prefix/include -fPIC\$" \
    "$(echo $(pkg-config --cflags asyncd-plugin))" "pkg-config --cflags asyncd-plugin"
cp -R "$root$prefix/share/doc/asyncd/examples/plugins" "$_TESTD_TMP/ex" ||
    fail "cp examples"
make -s -C "$_TESTD_TMP/ex" CFLAGS="-O2 -Werror" > "$_TESTD_TMP/ex.log" 2>&1 ||
    { cat "$_TESTD_TMP/ex.log" >&2; fail "the example plugins do not build \
against the installed SDK"; }
pass
mkdir "$_TESTD_TMP/plugins" && cp "$_TESTD_TMP/ex/hash.so" \
    "$_TESTD_TMP/ex/primes.so" "$_TESTD_TMP/plugins/" || fail "cp plugins"

# Installed again with a third prefix and no DESTDIR, as by someone trying
# asyncd out in their home directory.
mk "$_TESTD_TMP/x.log" PREFIX="$x" DESTDIR= install
assert_has "$_TESTD_TMP/x.log" "libasyncd installed in $x/lib, which the\
 dynamic linker does not search: run programs with LD_LIBRARY_PATH=$x/lib" \
    "the hint of make install PREFIX=$x"
assert_has "$x/lib/pkgconfig/asyncd.pc" "prefix=$x" "asyncd.pc in $x"
for u in system user; do
	assert_has "$x/lib/systemd/$u/asyncd.service" \
	    "ExecStart=$x/sbin/asyncd" "$u unit in $x"
	if grep -q /usr/ "$x/lib/systemd/$u/asyncd.service"; then
		fail "$u unit in $x names another prefix"
	fi
	pass
done
xflags=$(env -u PKG_CONFIG_SYSROOT_DIR -u PKG_CONFIG_LIBDIR \
    PKG_CONFIG_PATH="$x/lib/pkgconfig" pkg-config --cflags --libs asyncd) ||
    fail "pkg-config asyncd with PKG_CONFIG_PATH=$x/lib/pkgconfig"
# Word splitting folds pkg-config's spaces.
# shellcheck disable=SC2086,SC2116
assert_eq "-I$x/include -L$x/lib -lasyncd" "$(echo $xflags)" \
    "pkg-config --cflags --libs for $x"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Werror -o "$_TESTD_TMP/xdemo" \
    "$ASYNCD_SRCDIR/examples/future_demo.c" $xflags -pthread ||
    fail "examples/future_demo.c does not build against $x"
pass

# When LIBDIR is a directory the linker searches (a fake ldconfig says so),
# root gets ldconfig run and anyone else a hint to run it.
mkdir "$_TESTD_TMP/bin"
{
	echo '#!/bin/sh'
	echo 'case " $* " in'
	echo "*' -v '*)	echo '$x/lib: (from the test)' ;;"
	echo "*)		echo \"\$*\" >> '$_TESTD_TMP/ldconfig.ran' ;;"
	echo 'esac'
} > "$_TESTD_TMP/bin/ldconfig"
chmod +x "$_TESTD_TMP/bin/ldconfig"
PATH=$_TESTD_TMP/bin:$PATH mk "$_TESTD_TMP/ld.log" PREFIX="$x" install
if grep -q 'does not search' "$_TESTD_TMP/ld.log"; then
	cat "$_TESTD_TMP/ld.log" >&2
	fail "make install: $x/lib is searched, but the hint says not"
fi
pass
if [ "$(id -u)" -eq 0 ]; then
	[ -f "$_TESTD_TMP/ldconfig.ran" ] ||
	    fail "make install as root did not run ldconfig"
	pass
else
	assert_has "$_TESTD_TMP/ld.log" "run ldconfig" "the ldconfig hint"
fi

# It runs against the installed daemon.
BUILD=$root$prefix
"$root$prefix/sbin/asyncd" --socket "ipc://$_TESTD_TMP/d.sock" \
    --state-dir "$_TESTD_TMP/state" --plugin-dir "$_TESTD_TMP/plugins" \
    2> "$_TESTD_TMP/d.log" &
dpid=$!
export ASYNCD_SOCKET="ipc://$_TESTD_TMP/d.sock"
wait_for "$root$prefix/bin/asyncctl" ping
LD_LIBRARY_PATH=$root$prefix/lib "$_TESTD_TMP/demo" > "$_TESTD_TMP/out" ||
    { cat "$_TESTD_TMP/out" >&2; fail "future_demo failed"; }
pass
LD_LIBRARY_PATH=$x/lib "$_TESTD_TMP/xdemo" > "$_TESTD_TMP/out" ||
    { cat "$_TESTD_TMP/out" >&2; fail "future_demo (built on $x) failed"; }
pass
# A program built before struct asyncd_list_opts grew (ASYNCD_0.5) is
# bound to asyncd_list@ASYNCD_0, which reads only the four fields it
# knew: what lies past them (here 0xff bytes) is never read.
# objdump -T shows a version that is not the default in parentheses.
objdump -T "$root$prefix/lib/libasyncd.so" |
    grep -Eq '[(]ASYNCD_0[)] +asyncd_list$' ||
    fail "libasyncd.so has no asyncd_list@ASYNCD_0"
objdump -T "$root$prefix/lib/libasyncd.so" |
    grep -Eq ' ASYNCD_0[.]5 +asyncd_list$' ||
    fail "libasyncd.so has no asyncd_list@@ASYNCD_0.5"
pass
cat > "$_TESTD_TMP/oldlist.c" <<'EOF'
#include <stdio.h>
#include <string.h>

#include <asyncd.h>

struct old_list_opts {
	int		 state;
	const char	*type;
	uint64_t	 before;
	size_t		 limit;
};

__asm__(".symver old_list, asyncd_list@ASYNCD_0");
int	old_list(struct asyncd *, const struct old_list_opts *,
	    struct asyncd_job ***, size_t *, bool *);

int
main(void)
{
	struct {
		struct old_list_opts	opts;
		unsigned char		after[64];
	}			 buf;
	struct asyncd		*c;
	struct asyncd_job	**jobs;
	size_t			 n;
	bool			 more;
	int			 rv;

	memset(&buf, 0xff, sizeof buf);
	buf.opts.state = -1;
	buf.opts.type = NULL;
	buf.opts.before = 0;
	buf.opts.limit = 1;
	if ((rv = asyncd_open(&c, NULL)) != 0 ||
	    (rv = old_list(c, &buf.opts, &jobs, &n, &more)) != 0) {
		printf("%s\n", asyncd_strerror(rv));
		return (1);
	}
	printf("%zu %s\n", n, more ? "more" : "all");
	asyncd_jobs_free(jobs, n);
	asyncd_close(c);
	return (0);
}
EOF
# shellcheck disable=SC2086
cc -std=c11 -Wall -Werror -o "$_TESTD_TMP/oldlist" "$_TESTD_TMP/oldlist.c" \
    $flags -pthread || fail "a program of the old asyncd_list does not build"
pass
assert_eq "1 more" "$(LD_LIBRARY_PATH=$root$prefix/lib "$_TESTD_TMP/oldlist")" \
    "the old asyncd_list on the new library"
out=$("$root$prefix/bin/asyncctl" --json submit hash.sha256 \
    "{\"path\": \"$root$prefix/sbin/asyncd\"}" --wait --wait-timeout 60)
assert_eq "$(sha256sum "$root$prefix/sbin/asyncd" | cut -d' ' -f1)" \
    "$(printf '%s' "$out" | json_get result | json_get sha256)" \
    "the installed daemon runs the hash plugin built against the install"
out=$("$root$prefix/bin/asyncctl" --json submit primes.count '{"below": 100}' \
    --wait --wait-timeout 60)
assert_eq 25 "$(printf '%s' "$out" | json_get result | json_get count)" \
    "and the primes plugin in its worker processes"
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

# Uninstalled, nothing of it is left but directories.
mk "$_TESTD_TMP/un.log" PREFIX="$x" uninstall
assert_eq "" "$(find "$x" ! -type d)" "files left by make uninstall"
