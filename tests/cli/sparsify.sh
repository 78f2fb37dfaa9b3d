#!/bin/sh
# tests/cli/sparsify.sh — geomx-sparsify: usage, errors, and the acceptance
# checks (exact top-k through a pipe, error feedback across invocations, fp16,
# mixed precision, zstd). Golden files: tests/cli/golden/sparsify-*.
GX_TOP=$(cd "${GX_TOP:-.}" && pwd)
. "$GX_TOP/tests/cli/lib.sh"
cd "$T" || exit 1   # file names in messages (golden files) are relative
P=geomx-sparsify
H=$GX_TOP/tests/cli
py() { python3 "$H/$@"; }
IDX=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz

command -v $P >/dev/null 2>&1 || { echo "$P not built"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "python3 missing"; exit 77; }

# ---------------------------------------------------------------- usage
runcmd $P --help
expect_rc help-rc 0
expect_golden help-stdout "$OUT" sparsify-help.out
expect_empty help-stderr "$ERR"

runcmd $P -V
expect_rc version-rc 0
expect_golden version "$OUT" sparsify-version.out

runcmd $P --bogus
expect_rc badflag-rc 2
expect_golden badflag-stderr "$ERR" sparsify-badflag.err
expect_empty badflag-stdout "$OUT"

runcmd $P -k 2
expect_rc bad-k2-rc 2
expect_golden bad-k2-stderr "$ERR" sparsify-bad-k.err
expect_empty bad-k2-stdout "$OUT"
for a in "-k 0" "-k abc" "-k 0%" "--mpq abc" "--mpq 0" "--zstd=99" "--zstd=0" "-zx" \
	"--from foo" "--to idx" "--index-enc rle" "--momentum=1" "--seed -1" "--chunk 0" \
	"-d -k 0.1" "--exact" "--mpq 10 --fp16" "--chunk 10" "--no-ef --residual x" \
	"-d --from raw" "--same-key" "a b"; do
	tn=$(echo "bad $a" | tr ' =%' '_:p')
	runcmd $P $a
	expect_rc "$tn-rc" 2
	expect_lines "$tn-two-lines" "$ERR" 2
	expect_match "$tn-hint" "$ERR" "^Try '$P --help' for more information\.$"
done
runcmd $P --mpq abc
expect_match bad-mpq-names-value "$ERR" "^$P: invalid --mpq bound 'abc'"
runcmd $P --from raw --momentum 0.9 small.f32
expect_match bare-momentum-value "$ERR" "^$P: '0.9' is not an input file; attach the value: --momentum=0.9$"
GEOMX_SEED=x runcmd $P --from raw /dev/null
expect_rc bad-env-seed-rc 2
expect_match bad-env-seed-msg "$ERR" "GEOMX_SEED 'x'"

# ------------------------------------------------------- runtime errors
runcmd $P nonexistent.gx
expect_rc missing-rc 1
expect_golden missing-stderr "$ERR" sparsify-missing.err

py sparsify-util.py gen 1000 7 "$T/small.f32"
$P --from raw --chunk 300 "$T/small.f32" >"$T/small.gx"   # frames of 1200, 1200, 1200, 400 bytes
runcmd $P --from raw "$T/small.f32"
expect_rc raw-ok 0
head -c 2000 "$T/small.gx" >"$T/cut.gx"
runcmd $P -d cut.gx
expect_rc truncated-rc 1
expect_golden truncated-stderr "$ERR" sparsify-truncated.err
printf 'hello, world\n' >"$T/garbage"
runcmd $P "$T/garbage"
expect_rc garbage-rc 1
expect_match garbage-msg "$ERR" "garbage: frame 1 at byte 0: bad magic"
head -c 100000 /dev/urandom >"$T/noise"
runcmd $P "$T/noise"
expect_rc noise-rc 1
cp "$T/small.gx" "$T/flip.gx"
py sparsify-util.py flip "$T/flip.gx" $((1264 + 8))   # key of frame 2
runcmd $P -d flip.gx
expect_rc hdrflip-rc 1
expect_golden hdrflip-stderr "$ERR" sparsify-hdrflip.err
cp "$T/small.gx" "$T/flip.gx"
py sparsify-util.py flip "$T/flip.gx" $((2 * 1264 + 64 + 100))  # payload of frame 3
runcmd $P -d "$T/flip.gx"
expect_rc crcflip-rc 1
expect_match crcflip-msg "$ERR" "frame 3 at byte 2528: payload checksum mismatch"
head -c 1001 "$T/small.f32" >"$T/odd.f32"
runcmd $P --from raw "$T/odd.f32"
expect_rc raw-odd-rc 1
expect_match raw-odd-msg "$ERR" "odd.f32: length 1001 bytes is not a multiple of 4"
runcmd $P --from raw --max-elems 999 "$T/small.f32"
expect_rc max-elems-rc 1
runcmd $P --from idx "$T/small.f32"
expect_rc idx-bad-rc 1
expect_match idx-bad-msg "$ERR" "small.f32: byte 0: "

# -o on a failing input leaves nothing behind, on success writes the file.
mkdir "$T/o"
runcmd $P -d -o "$T/o/out.gx" "$T/cut.gx"
expect_rc output-fail-rc 1
if [ -z "$(ls -A "$T/o")" ]; then ok output-fail-nothing-left; else notok output-fail-nothing-left "$(ls "$T/o")"; fi
echo old >"$T/o/out.gx"
runcmd $P -d -o "$T/o/out.gx" "$T/flip.gx"
if [ "$(cat "$T/o/out.gx")" = old ] && [ "$(ls "$T/o")" = out.gx ]; then ok output-fail-keeps-old; else notok output-fail-keeps-old "$(ls "$T/o")"; fi
runcmd $P -d -o "$T/o/out.gx" "$T/small.gx"
expect_rc output-ok-rc 0
expect_empty output-ok-stdout "$OUT"
if [ "$(ls "$T/o")" = out.gx ] && [ "$(wc -c <"$T/o/out.gx")" -eq 4256 ]; then ok output-ok-file; else notok output-ok-file "$(ls -l "$T/o")"; fi

if command -v script >/dev/null 2>&1; then
	runcmd script -qec "$P --from raw /dev/null" /dev/null
	expect_rc tty-out-rc 1
	expect_match tty-out-msg "$OUT" "refusing to write binary"
	runcmd script -qec "$P --from raw -o $T/tty.gx" /dev/null
	expect_rc tty-in-rc 1
	expect_match tty-in-msg "$OUT" "refusing to read binary input from a terminal"
	runcmd script -qec "$P -f --from raw /dev/null" /dev/null
	expect_rc tty-force-rc 0
else
	echo "skip tty: script(1) missing"
fi

# -------------------------------------- acceptance 1: exact top-k, 10^6
py sparsify-util.py gen 1000000 1 "$T/g.f32"
$P --from raw -k 0.01 --exact "$T/g.f32" | $P -d --to raw >"$T/back.f32"
if msg=$(py topk-check.py "$T/g.f32" "$T/back.f32" 10000 2>&1); then ok topk-exact-1e6; else notok topk-exact-1e6 "$msg"; fi
runcmd $P --from raw -k 1% --stats "$T/g.f32"
expect_match stats-line "$ERR" "^$P: 1 tensors, 1000000 elements, 4000000 bytes in, [0-9]+ bytes out, ratio [0-9.]+, [0-9.]+ MB/s, [0-9.]+ s$"
# Sampled selection keeps about k and reproduces itself from the seed.
$P --from raw -k 0.01 --seed 7 "$T/g.f32" >"$T/s1.gx"
$P --from raw -k 0.01 --seed 7 "$T/g.f32" >"$T/s2.gx"
if cmp -s "$T/s1.gx" "$T/s2.gx"; then ok sampled-reproducible; else notok sampled-reproducible; fi
GEOMX_SEED=7 $P --from raw -k 0.01 "$T/g.f32" >"$T/s3.gx"
if cmp -s "$T/s1.gx" "$T/s3.gx"; then ok env-seed; else notok env-seed; fi
# A closed pipe ends the program quietly (SIGPIPE: 141 from the shell), leaving
# the state file's temporary behind no more than the state itself.
mkdir "$T/p"
{ $P --from raw --chunk 1000 -k 0.1 --residual "$T/p/st.gx" "$T/g.f32" 2>"$T/pipe.err"; echo $? >"$T/pipe.rc"; } | head -c 1 >/dev/null
rc=$(cat "$T/pipe.rc")
if [ "$rc" -eq 141 ] && [ ! -s "$T/pipe.err" ]; then ok sigpipe; else notok sigpipe "status $rc: $(cat "$T/pipe.err")"; fi
if [ -z "$(ls -A "$T/p")" ]; then ok sigpipe-no-temporary; else notok sigpipe-no-temporary "$(ls "$T/p")"; fi
runcmd $P -v --from raw -k 0.01 --seed 7 /dev/null
expect_match seed-logged "$ERR" "seed 7"

# ------------------------- acceptance 2: error feedback across invocations
for mode in sampled exact momentum; do
	case $mode in
	sampled) flags= ;;
	exact) flags=--exact ;;
	momentum) flags=--momentum=0.9 ;;
	esac
	rm -f "$T/st.gx"
	args=
	good=1
	for r in 1 2 3 4 5; do
		py sparsify-util.py gen 100000 $((100 + r)) "$T/in$r.f32"
		$P --from raw -k 0.01 $flags --residual "$T/st.gx" "$T/in$r.f32" | $P -d --to raw >"$T/out$r.f32" || good=0
		args="$args $T/in$r.f32 $T/out$r.f32"
	done
	$P -d --to raw "$T/st.gx" >"$T/st.f32" || good=0
	m=
	[ $mode = momentum ] && m="--momentum 0.9"
	if [ $good = 1 ] && msg=$(py ef-invariant.py $m "$T/st.f32" $args 2>&1); then ok "ef-$mode"; else notok "ef-$mode" "$msg"; fi
done
ls "$T"/st.gx* >"$T/ls"
expect_lines state-no-temporaries "$T/ls" 1
runcmd $P --from raw -k 0.01 --residual "$T/st.gx" "$T/in1.f32"
expect_rc state-momentum-mismatch-rc 1
expect_match state-momentum-mismatch-msg "$ERR" "saved with --momentum"
cp "$T/st.gx" "$T/st.keep"
runcmd $P --from raw -k 0.01 --momentum --residual "$T/st.gx" "$T/small.f32"
expect_rc state-count-mismatch-rc 1
expect_match state-count-mismatch-msg "$ERR" "has 1000 elements, but its residual state has 100000"
if cmp -s "$T/st.gx" "$T/st.keep"; then ok state-kept-on-failure; else notok state-kept-on-failure; fi
# Within one invocation repeated keys (IDX items) get error feedback too.
$P --from idx --limit 20 -k 0.05 --exact "$IDX" | $P -d --to raw >"$T/items.f32"
$P --from idx --limit 20 -k 0.05 --exact --no-ef "$IDX" | $P -d --to raw >"$T/items-noef.f32"
if cmp -s "$T/items.f32" "$T/items-noef.f32"; then notok idx-items-feedback "same output with and without error feedback"; else ok idx-items-feedback; fi

# ------------------------------------------------------------------ fp16
py sparsify-util.py gen 100000 3 "$T/h.f32" 100
$P --from raw --fp16 "$T/h.f32" | $P -d --to raw >"$T/h-back.f32"
if msg=$(py sparsify-util.py relerr "$T/h.f32" "$T/h-back.f32" 1e-3 2>&1); then ok fp16-relerr; else notok fp16-relerr "$msg"; fi
$P --from raw --fp16 "$T/h.f32" >"$T/h.gx"
if [ "$(wc -c <"$T/h.gx")" -eq $((64 + 200000)) ]; then ok fp16-size; else notok fp16-size "$(wc -c <"$T/h.gx")"; fi

# ------------------------------------- mixed precision: small f16, big sparse
# 1000 floats in chunks of 300: 300, 300, 300, 100 elements; bound 200.
$P --from raw --chunk 300 --mpq 200 "$T/small.f32" >"$T/mpq.gx"
py sparsify-util.py frames "$T/mpq.gx" | cut -d' ' -f1-4 >"$T/mpq.lst"
printf '1 3 300 0\n1 3 300 1\n1 3 300 2\n1 2 100 3\n' >"$T/mpq.want"
if cmp -s "$T/mpq.lst" "$T/mpq.want"; then ok mpq-codecs; else notok mpq-codecs "$(tr '\n' '|' <"$T/mpq.lst")"; fi
$P --from raw --chunk 300 --same-key "$T/small.f32" | py sparsify-util.py frames /dev/stdin | cut -d' ' -f4,5 | tr '\n' ' ' >"$T/sk"
if [ "$(cat "$T/sk")" = "0 0 0 1 0 2 0 3 " ]; then ok same-key; else notok same-key "$(cat "$T/sk")"; fi
runcmd $P -vv --from raw --chunk 300 --mpq 200 "$T/small.f32"
expect_match mpq-verbose "$ERR" "tensor 4 at byte 3600: key 3 round 0: 100 elements -> f16"

# -------------------------------------------------------------- zstd
$P --from idx --limit 100 "$IDX" >"$T/i.gx"
$P --from idx --limit 100 -z "$IDX" >"$T/iz.gx"
$P -d --to raw "$T/i.gx" >"$T/i.f32"
$P -d --to raw "$T/iz.gx" >"$T/iz.f32"
if cmp -s "$T/i.f32" "$T/iz.f32" && [ "$(wc -c <"$T/i.f32")" -eq $((100 * 784 * 4)) ]; then ok zstd-same-values; else notok zstd-same-values; fi
a=$(wc -c <"$T/i.gx") b=$(wc -c <"$T/iz.gx")
if [ "$b" -lt $((a / 2)) ]; then ok "zstd-smaller ($a -> $b)"; else notok zstd-smaller "$a -> $b"; fi
$P --from idx --limit 100 -k 0.1 --exact --zstd=19 --index-enc bitmap "$IDX" | $P -d --to raw >"$T/iz2.f32"
$P --from idx --limit 100 -k 0.1 --exact --index-enc u32 "$IDX" | $P -d --to raw >"$T/iz3.f32"
if cmp -s "$T/iz2.f32" "$T/iz3.f32"; then ok zstd-sparse-index-encodings; else notok zstd-sparse-index-encodings; fi
cat "$IDX" | $P --from idx --limit 3 | $P -d --to raw >"$T/pipe-idx.f32"
head -c $((3 * 784 * 4)) "$T/i.f32" | cmp -s - "$T/pipe-idx.f32" && ok idx-from-stdin || notok idx-from-stdin

# ------------------------------------------------------- pass-through, -d
# Decoding twice is a fixed point; non-tensor frames pass through unchanged.
$P -d "$T/mpq.gx" >"$T/d1.gx"
$P -d "$T/d1.gx" >"$T/d2.gx"
if cmp -s "$T/d1.gx" "$T/d2.gx"; then ok decode-fixed-point; else notok decode-fixed-point; fi
cat "$T/small.gx" "$T/st.gx" | $P -k 0.5 | py sparsify-util.py frames /dev/stdin | cut -d' ' -f1,2 | sort | uniq -c | tr -s ' ' >"$T/pt"
printf ' 4 1 3\n 2 2 1\n' >"$T/pt.want"
if cmp -s "$T/pt" "$T/pt.want"; then ok state-frames-pass-through; else notok state-frames-pass-through "$(tr '\n' '|' <"$T/pt")"; fi
runcmd $P -d --limit 2 "$T/small.gx"
if [ "$(wc -c <"$OUT")" -eq $((2 * 1264)) ]; then ok limit; else notok limit "$(wc -c <"$OUT")"; fi
: | $P >"$T/empty.gx" && [ ! -s "$T/empty.gx" ] && ok empty-input || notok empty-input

finish
