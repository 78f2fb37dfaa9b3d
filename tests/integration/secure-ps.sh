#!/bin/sh
# tests/integration/secure-ps.sh — the parameter servers and workers with
# --key (docs/security.md): a whole HiPS job over authenticated, encrypted
# links ends with exactly the oracle's parameters; a worker without the key,
# one with another key, a local server with another key and one whose
# global server has no key are each refused with a log line naming the
# cause, and the job's own links go on; with identities (geomx-relay
# --genkey --key --party [--rank]: the global server the job's key, each
# local server its party's, each worker its own or its party's) the job
# runs, a party's key cannot serve another party, and a worker's key
# cannot be another rank's.
. "${GX_TOP:-.}/tests/integration/lib.sh"
need_python
ORACLE="python3 $GX_TOP/tests/integration/oracle.py"
SIZES=1,1000,70000
R=4

# mkkey FILE — 32 random bytes as hex, mode 0600.
mkkey() {
	(umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$1" && echo >>"$1")
}
K=$T/job.key
K2=$T/other.key
mkkey "$K"
mkkey "$K2"

# 1. The job, every link encrypted; two intruders knock on a local server
# before the workers come.
start_hips sec 1 2 2 "--key $K --optimizer sgd --lr 0.5" "--key $K --connect-timeout 20"
spawn sec.nokey geomx-bench worker --ps "127.0.0.1:$LPORT0" --party 0 --rank 0 --sizes "$SIZES" \
	--rounds 1 --connect-timeout 2
spawn sec.wrongkey geomx-bench worker --ps "127.0.0.1:$LPORT1" --party 1 --rank 0 --sizes "$SIZES" \
	--rounds 1 --connect-timeout 2 --key "$K2"
expect_exit "a worker without the key fails" sec.nokey 15 1
expect_exit "a worker with another key fails" sec.wrongkey 15 1
expect_match "the local server names the plaintext peer" "$T/sec.l0.err" "plaintext"
expect_match "the local server names the failed authentication" "$T/sec.l1.err" "authentication failed"
expect_match "the plaintext worker is told why" "$T/sec.nokey.err" "plaintext|secure|key"
expect_match "the worker with another key is told why" "$T/sec.wrongkey.err" "authentication|key"

start_workers sec 2 2 --sizes "$SIZES" --rounds "$R" -q --key "$K"
# shellcheck disable=SC2046
expect_all "the encrypted job ends: every process exits 0 by itself" 40 0 $(hips_names sec 1 2 2)
w="$T/sec.w"
if cmp -s "${w}00.final" "${w}11.final" && cmp -s "${w}00" "${w}10"; then
	ok "the workers' dumps are identical"
else
	notok "the workers' dumps are identical" "${w}00 vs ${w}10/${w}11"
fi
$ORACLE hips --sizes "$SIZES" --parties 2 --workers 2 --rounds "$R" --optimizer sgd --lr 0.5 \
	--init "${w}00.init" --dump "${w}00" --final "${w}00.final" >"$T/sec.oracle" 2>&1
if [ $? -eq 0 ]; then ok "every round and the final parameters match the oracle bit for bit"
else notok "every round and the final parameters match the oracle bit for bit" "$(tr '\n' '|' <"$T/sec.oracle")"; fi
# Encryption costs 20 bytes per record of up to 64 KiB plus the handshake:
# the wire carries more than the payload, and not much more.
g=$T/sec.g0.stats
rounds=$(stat_field "$g" rounds 2)
[ "$rounds" = "$R" ] && ok "the global server counts $R rounds" || notok "the global server counts $R rounds" "got '$rounds'"

# 2. A local server with another key: the global server refuses it, the
# local server fails with the reason.
spawn bad.g0 geomx-ps --role global --parties 1 --key "$K" --connect-timeout 5
GP=$(port_of bad.g0)
spawn bad.l0 geomx-ps --role local --workers 1 --upstream "127.0.0.1:$GP" --key "$K2" --connect-timeout 3
expect_exit "a local server with another key fails" bad.l0 20 1
expect_match "it says the authentication failed" "$T/bad.l0.err" "authentication|key"
expect_match "the global server names it" "$T/bad.g0.err" "authentication failed"

# 3. A local server with a key, its global server without: the local
# server fails, naming the plaintext answer.
spawn plain.g0 geomx-ps --role global --parties 1 --connect-timeout 5
GP=$(port_of plain.g0)
spawn plain.l0 geomx-ps --role local --workers 1 --upstream "127.0.0.1:$GP" --key "$K" --connect-timeout 3
expect_exit "a keyed local server facing a plaintext global fails" plain.l0 20 1
expect_match "it names the plaintext peer" "$T/plain.l0.err" "plaintext"

# 5. Identities: the job's key only at the global server; each local
# server its party's key; worker 0 of each party its own key, worker 1 its
# party's (the client derives its own from it).
for p in 0 1; do
	geomx-relay --genkey "$T/p$p.key" --key "$K" --party $p || notok "derive party $p's key"
	geomx-relay --genkey "$T/w${p}0.key" --key "$T/p$p.key" --party $p --rank 0 ||
		notok "derive worker 0 of party $p's key"
done
spawn id.g0 geomx-ps --role global --parties 2 --key "$K" --optimizer sgd --lr 0.5
IG=$(port_of id.g0)
for p in 0 1; do
	spawn id.l$p geomx-ps --role local --party $p --workers 2 --upstream "127.0.0.1:$IG" \
		--key "$T/p$p.key" --connect-timeout 20
	eval "IL$p=\$(port_of id.l$p)"
done
# party 0's key at party 1's server's place; worker 0's key claiming rank 1
spawn id.badparty geomx-ps --role local --party 1 --workers 2 --upstream "127.0.0.1:$IG" \
	--key "$T/p0.key" --connect-timeout 5
expect_exit "a local server given another party's key refuses to start (status 1)" id.badparty 10 1
expect_match "... saying whose key it holds" "$T/id.badparty.err" "party 0's key"
spawn id.squat geomx-bench worker --ps "127.0.0.1:$IL0" --party 0 --rank 1 --sizes "$SIZES" \
	--rounds 1 --key "$T/w00.key" --connect-timeout 2
expect_exit "a worker's key cannot serve another rank (status 2)" id.squat 10 2
expect_match "... saying so" "$T/id.squat.err" "worker 0 of party 0's key, which cannot be worker 1"
for p in 0 1; do
	eval "lp=\$IL$p"
	spawn id.w${p}0 geomx-bench worker --ps "127.0.0.1:$lp" --party $p --rank 0 --sizes "$SIZES" \
		--rounds "$R" -q --key "$T/w${p}0.key"
	spawn id.w${p}1 geomx-bench worker --ps "127.0.0.1:$lp" --party $p --rank 1 --sizes "$SIZES" \
		--rounds "$R" -q --key "$T/p$p.key"
done
expect_all "identities: the job runs, every process exits 0 by itself" 40 0 id.w00 id.w01 id.w10 \
	id.w11 id.l0 id.l1 id.g0

# 6. Secure by default: no flag at all, the key from GEOMX_KEY (and
# plaintext no longer asked for): the job runs encrypted; a worker given
# neither a key nor GEOMX_INSECURE is refused before it connects.
spawn env.g0 env -u GEOMX_INSECURE GEOMX_KEY="$K" geomx-ps --role global --parties 1
EG=$(port_of env.g0)
spawn env.l0 env -u GEOMX_INSECURE GEOMX_KEY="$K" geomx-ps --role local --workers 1 \
	--upstream "127.0.0.1:$EG"
EL=$(port_of env.l0)
spawn env.nokey env -u GEOMX_INSECURE -u GEOMX_KEY geomx-bench worker --ps "127.0.0.1:$EL" \
	--sizes "$SIZES" --rounds 1
expect_exit "a worker with no key and no GEOMX_INSECURE is refused (status 2)" env.nokey 10 2
spawn env.w0 env -u GEOMX_INSECURE GEOMX_KEY="$K" geomx-bench worker --ps "127.0.0.1:$EL" \
	--sizes "$SIZES" --rounds "$R" -q
expect_all "GEOMX_KEY alone: the encrypted job ends, every process exits 0" 40 0 env.w0 env.l0 env.g0
if grep -q "plaintext" "$T/env.g0.err" "$T/env.l0.err"; then
	notok "... and nothing says plaintext" "$(cat "$T/env.g0.err" "$T/env.l0.err")"
else
	ok "... and nothing says plaintext"
fi

# 4. Key files: readable by others, missing, malformed: usage errors (2).
chmod 644 "$K2"
spawn perm.l0 geomx-ps --role local --workers 1 --upstream 127.0.0.1:9 --key "$K2"
expect_exit "a key file readable by others is refused (status 2)" perm.l0 5 2
expect_match "the message names the file and the mode" "$T/perm.l0.err" "other.key.*(0644|644)"
spawn miss.w geomx-train --data fashion-mnist --ps 127.0.0.1:9 --key "$T/nonexistent.key"
expect_exit "a missing key file is refused (status 2)" miss.w 5 2
expect_match "the message names the file" "$T/miss.w.err" "nonexistent.key"
printf 'not a key\n' >"$T/bad.key"
chmod 600 "$T/bad.key"
spawn fmt.w geomx-bench worker --ps 127.0.0.1:9 --key "$T/bad.key"
expect_exit "a malformed key file is refused (status 2)" fmt.w 5 2
expect_match "the message names the file" "$T/fmt.w.err" "bad.key"
finish
