# tests/cli/install.sh — make install / uninstall into a DESTDIR.
. "${GX_TOP:-.}/tests/cli/lib.sh"
cd "${GX_TOP:-.}" || exit 1
runcmd make -s --no-print-directory BUILD="$BUILD" DESTDIR="$T/root" PREFIX=/usr install
expect_rc "install exits 0" 0
for f in bin/geomx-sparsify bin/geomx-bench lib/libgeomx.a include/geomx.h \
	share/man/man1/geomx-sparsify.1 share/man/man1/geomx-bench.1 share/man/man7/geomx.7; do
	if [ -f "$T/root/usr/$f" ]; then ok "installed $f"; else notok "installed $f" "missing $T/root/usr/$f"; fi
done
if [ -x "$T/root/usr/bin/geomx-sparsify" ] && "$T/root/usr/bin/geomx-sparsify" --version | grep -q '(geomx)'; then
	ok "installed program runs"
else
	notok "installed program runs"
fi
# A program built against the installed header and library alone: the
# rooms' headers must be found under include/geomx/ through geomx.h.
cat >"$T/use.c" <<'EOF'
#include <geomx.h>
#include <string.h>
int main(void) { gx_frame_hdr h; gx_frame_hdr_init(&h); return strcmp(gx_version(), GX_VERSION_STRING) != 0; }
EOF
# (a sanitizer build's library needs its runtime: make SAN=... names the
# build folder after it)
case ${BUILD:-build} in
*-address*) sanf=-fsanitize=address ;;
*-undefined*) sanf=-fsanitize=undefined ;;
*) sanf= ;;
esac
# shellcheck disable=SC2086 # $sanf is empty or one flag
if ${CC:-cc} $sanf -I"$T/root/usr/include" "$T/use.c" "$T/root/usr/lib/libgeomx.a" -lopenblas -lsodium -lzstd -lz -lm -lpthread \
	-o "$T/use" 2>"$T/use.err" && "$T/use"; then
	ok "a program builds and runs against the installed header and library"
else
	notok "a program builds and runs against the installed header and library" "$(head -n 3 "$T/use.err")"
fi
runcmd make -s --no-print-directory BUILD="$BUILD" DESTDIR="$T/root" PREFIX=/usr uninstall
expect_rc "uninstall exits 0" 0
left=$(find "$T/root" -type f | wc -l)
if [ "$left" -eq 0 ]; then ok "uninstall removes every file"; else notok "uninstall removes every file" "$(find "$T/root" -type f)"; fi
finish
