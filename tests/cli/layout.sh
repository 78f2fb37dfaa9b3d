# tests/cli/layout.sh — the house: every #include of lib/ follows the arrows
# that lib/README.md draws, the arrows have no circle, and programs include
# no private header of lib/.
. "${GX_TOP:-.}/tests/cli/lib.sh"
cd "${GX_TOP:-.}" || exit 1

# The table: the lines between the marker comment and the closing fence.
awk '/<!-- the table layout.sh reads/ { on = 1; next }
     on && /^```/ { if (++fence == 2) exit; next }
     on && fence == 1' lib/README.md | grep -E '^[a-z]+:' >"$T/arrows"
if [ -s "$T/arrows" ]; then ok "lib/README.md has the table of arrows"; else notok "lib/README.md has the table of arrows"; finish; fi

# Every room folder is in the table, and every room in the table exists.
bad=""
for d in lib/*/; do
	r=$(basename "$d")
	grep -q "^$r:" "$T/arrows" || bad="$bad $r"
done
if [ -z "$bad" ]; then ok "every room of lib/ is in the table"; else notok "every room of lib/ is in the table" "missing:$bad"; fi
bad=""
while IFS=: read -r r deps; do
	[ -d "lib/$r" ] || bad="$bad $r"
	[ -f "lib/$r/gx_$r.h" ] || bad="$bad $r(no gx_$r.h)"
done <"$T/arrows"
if [ -z "$bad" ]; then ok "every room in the table exists, with its public header"; else notok "every room in the table exists, with its public header" "$bad"; fi

# Each include of a lib/ file names its own room, or a room its line allows.
bad=""
for f in lib/*/*.c lib/*/*.h; do
	r=$(basename "$(dirname "$f")")
	allowed=" $(grep "^$r:" "$T/arrows" | cut -d: -f2) "
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		case $inc in
		../*/*) to=${inc#../}; to=${to%%/*} ;;
		kernels.h) to=kernels ;;
		*/*) bad="$bad $f:$inc(use ../ROOM/)"; continue ;;
		*) continue ;; # its own room
		esac
		case $allowed in *" $to "*) ;; *) bad="$bad $f->$to" ;; esac
	done
done
if [ -z "$bad" ]; then ok "every #include in lib/ follows the arrows"; else notok "every #include in lib/ follows the arrows" "$bad"; fi

# The arrows have no circle: peel off rooms whose arrows all point to rooms
# already peeled, until none is left (or none can be peeled: a circle).
cp "$T/arrows" "$T/left"
: >"$T/done"
echo kernels >"$T/done"
for _ in $(seq 1 50); do
	[ -s "$T/left" ] || break
	: >"$T/next"
	while IFS=: read -r r deps; do
		ready=1
		for x in $deps; do grep -qx "$x" "$T/done" || ready=0; done
		if [ $ready = 1 ]; then echo "$r" >>"$T/peel"; else echo "$r:$deps" >>"$T/next"; fi
	done <"$T/left"
	[ -f "$T/peel" ] || break
	cat "$T/peel" >>"$T/done"; rm -f "$T/peel"
	mv "$T/next" "$T/left"
done
if [ ! -s "$T/left" ]; then ok "the arrows have no circle"; else notok "the arrows have no circle" "$(tr '\n' ' ' <"$T/left")"; fi

# ps and kv never include each other; codec, nn and data never reach net.
for pair in "ps kv" "kv ps" "codec net" "nn net" "data net"; do
	set -- $pair
	if grep -q "^$1:.* $2\( \|$\)" "$T/arrows"; then notok "$1 does not include $2" "the table allows it"; else ok "$1 does not include $2"; fi
done

# No source file of lib/, cmd/ or kernels/ over 800 lines: a file that grows
# past it is split along a seam, so that each can be read at one sitting.
bad=""
for f in lib/*.h lib/*/*.c lib/*/*.h cmd/*.c cmd/*.h cmd/*/*.c cmd/*/*.h kernels/*.c kernels/*.h \
	kernels/*/*.c kernels/*/*.h kernels/*/*.cu; do
	[ -f "$f" ] || continue
	n=$(wc -l <"$f")
	[ "$n" -le 800 ] || bad="$bad $f($n)"
done
if [ -z "$bad" ]; then ok "no source file of lib/, cmd/ or kernels/ is over 800 lines"
else notok "no source file of lib/, cmd/ or kernels/ is over 800 lines" "$bad"; fi

# Programs include their own headers and the public umbrella only.
bad=""
for f in cmd/*.c cmd/*.h cmd/*/*.c cmd/*/*.h; do
	[ -f "$f" ] || continue
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		case $inc in
		geomx.h|cli.h|../cli.h) ;;
		*lib/*) bad="$bad $f:$inc" ;;
		*) [ -f "$(dirname "$f")/$inc" ] || bad="$bad $f:$inc" ;;
		esac
	done
done
if [ -z "$bad" ]; then ok "programs include only geomx.h and their own headers"; else notok "programs include only geomx.h and their own headers" "$bad"; fi
finish
