#!/usr/bin/env bash
# The Direct agent's speed and memory against `openssl speed`, measured side by
# side in one run on one core (taskset -c 0 where available). The absolute
# figures depend on the machine and its neighbours; the ratios are the result.
#
#   bash bench/agent-vs-openssl.sh
#
# Steps: build the criterion bench (benches/agent.rs); `openssl speed rsa2048`
# (before and after the bench, averaged); AES-256-CBC (encrypt and decrypt) and
# SHA-256 at 16384-byte blocks; base64 encode/decode of 20 MiB with `openssl enc`;
# the criterion bench; then one 20 MiB round trip under `/usr/bin/time -v`.
# No network is needed (except apt-get, once, if /usr/bin/time is missing).
# About 3 minutes on 2 cores once the release build is cached.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
say() { printf '== %s\n' "$*" >&2; }

PIN=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
    PIN=(taskset -c 0)
    PINNED="one core (taskset -c 0)"
else
    PINNED="unpinned (no taskset)"
fi
run() { "${PIN[@]}" "$@"; }

MIB20=$((20 * 1024 * 1024))
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
LOAD_START=$(loadavg)

say "building the bench (cargo bench --bench agent --no-run)"
cargo bench --bench agent --no-run >"$WORK/build.log" 2>&1 || {
    cat "$WORK/build.log" >&2
    exit 1
}
BIN=$(sed -n 's/.*Executable .*(\(.*agent-[0-9a-f]*\)).*/\1/p' "$WORK/build.log" | tail -1)
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
    BIN=$(ls -t target/release/deps/agent-* 2>/dev/null | grep -v '\.d$' | head -1)
fi
[ -x "$BIN" ] || { say "cannot find the bench executable"; exit 1; }
say "bench executable: $BIN"

# RSA-2048 private-key operations per second (the "sign/s" column).
rsa_sign() {
    run openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $6 }'
}
# Bytes per second of an EVP algorithm at 16384-byte blocks.
evp_rate() {
    run openssl speed "$@" -bytes 16384 -seconds 2 2>/dev/null |
        awk 'NF == 2 && $2 ~ /k$/ { v = $2; sub(/k$/, "", v) } END { printf "%.0f\n", v * 1000 }'
}
# Best wall time in seconds of three runs of a command.
best_of_3() {
    local best="" s e
    for _ in 1 2 3; do
        s=$(date +%s.%N)
        "$@" >/dev/null
        e=$(date +%s.%N)
        best=$(awk -v s="$s" -v e="$e" -v b="$best" 'BEGIN { t = e - s; print (b == "" || t < b) ? t : b }')
    done
    echo "$best"
}

say "openssl speed rsa2048 (before the bench)"
RSA1=$(rsa_sign)
say "openssl speed -evp aes-256-cbc / -decrypt / -evp sha256"
AES_ENC=$(evp_rate -evp aes-256-cbc)
AES_DEC=$(evp_rate -decrypt -evp aes-256-cbc)
SHA=$(evp_rate -evp sha256)
say "openssl enc -base64 on 20 MiB"
head -c "$MIB20" /dev/urandom >"$WORK/rand.bin"
run openssl enc -base64 -in "$WORK/rand.bin" -out "$WORK/rand.b64"
B64_ENC_S=$(best_of_3 run openssl enc -base64 -in "$WORK/rand.bin" -out /dev/null)
B64_DEC_S=$(best_of_3 run openssl enc -d -base64 -in "$WORK/rand.b64" -out /dev/null)
B64_ENC=$(awk -v n="$MIB20" -v t="$B64_ENC_S" 'BEGIN { printf "%.0f\n", n / t }')
B64_DEC=$(awk -v n="$MIB20" -v t="$B64_DEC_S" 'BEGIN { printf "%.0f\n", n / t }')

say "criterion bench (benches/agent.rs)"
run "$BIN" --bench --color never --noplot >"$WORK/bench.out" 2>"$WORK/bench.err" || {
    cat "$WORK/bench.out" "$WORK/bench.err" >&2
    exit 1
}
grep -E '^[a-z]+/|time:|thrpt:' "$WORK/bench.out" >&2 || true
# "group/name  time: [low MID high]" -> "group/name MID_IN_NS"; change lines skipped.
awk '
    /^[A-Za-z0-9_]+\/[A-Za-z0-9_]+/ { id = $1 }
    /time:/ && id != "" && !(id in seen) {
        line = $0; sub(/.*time:[ ]*\[/, "", line); split(line, f, " ")
        u = f[4]
        m = (u == "ps") ? 1e-3 : (u == "ns") ? 1 : (u == "µs" || u == "us") ? 1e3 : (u == "ms") ? 1e6 : (u == "s") ? 1e9 : 0
        if (m > 0) { printf "%s %.1f\n", id, f[3] * m; seen[id] = 1 }
    }' "$WORK/bench.out" >"$WORK/times"

say "openssl speed rsa2048 (after the bench)"
RSA2=$(rsa_sign)
RSA=$(awk -v a="$RSA1" -v b="$RSA2" 'BEGIN { printf "%.1f\n", (a + b) / 2 }')

RSS_KB=""
if [ ! -x /usr/bin/time ]; then
    say "installing GNU time for the RSS run"
    apt-get install -y time >/dev/null 2>&1 || say "could not install /usr/bin/time"
fi
if [ -x /usr/bin/time ]; then
    say "one 20 MiB round trip under /usr/bin/time -v"
    run /usr/bin/time -v "$BIN" --rss-20mb >"$WORK/rss.out" 2>"$WORK/rss.err"
    RSS_KB=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$WORK/rss.err")
    cat "$WORK/rss.out" >&2
    say "the same, with the peak reset between phases and steps (diagnosis only; glibc's"
    say "mmap threshold fixed so that freed buffers leave the RSS and each step's rise shows)"
    MALLOC_MMAP_THRESHOLD_=131072 run "$BIN" --rss-20mb --phases >"$WORK/phases.out" 2>&1
    cat "$WORK/phases.out" >&2
fi

ns() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/times"; }
# ops/s of a bench and its ratio to the RSA reference.
# The last column divides by the in-process RSA-2048 sign of the same criterion
# run instead: a check on load that changed between openssl speed and the bench.
ops_row() {
    local id=$1 what=$2 t raw
    t=$(ns "$id")
    raw=$(ns small/rsa2048_sign_raw)
    [ -n "$t" ] || { printf '| %s | (missing) | | | |\n' "$what"; return; }
    awk -v t="$t" -v r="$RSA" -v raw="${raw:-0}" -v w="$what" 'BEGIN {
        ops = 1e9 / t
        printf "| %s | %.1f µs | %.0f /s | %.1f%% | %.1f%% |\n", w, t / 1e3, ops, 100 * ops / r, 100 * raw / t }'
}
verdict_ops() {
    local t
    t=$(ns "$1")
    [ -n "$t" ] || { echo "NOT MEASURED"; return; }
    awk -v t="$t" -v r="$RSA" -v want="$2" 'BEGIN { print (1e9 / t / r >= want) ? "met" : "NOT met" }'
}
thr_row() {
    local id=$1 what=$2 bound=$3 t
    t=$(ns "$id")
    [ -n "$t" ] || { printf '| %s | (missing) | | |\n' "$what"; return; }
    awk -v t="$t" -v n="$MIB20" -v b="$bound" -v w="$what" 'BEGIN {
        r = n / (t / 1e9)
        printf "| %s | %.1f ms | %.1f MB/s | %.1f%% |\n", w, t / 1e6, r / 1e6, 100 * r / b }'
}
verdict_thr() {
    local t
    t=$(ns "$1")
    [ -n "$t" ] || { echo "NOT MEASURED"; return; }
    awk -v t="$t" -v n="$MIB20" -v b="$2" 'BEGIN { print (n / (t / 1e9) / b >= 0.5) ? "met" : "NOT met" }'
}
BOUND_OUT=$(awk -v a="$AES_ENC" -v s="$SHA" -v b="$B64_ENC" 'BEGIN { printf "%.0f\n", 1 / (1/a + 1/s + 1/b) }')
BOUND_IN=$(awk -v a="$AES_DEC" -v s="$SHA" -v b="$B64_DEC" 'BEGIN { printf "%.0f\n", 1 / (1/a + 1/s + 1/b) }')
mbs() { awk -v x="$1" 'BEGIN { printf "%.0f MB/s", x / 1e6 }'; }

cat <<EOF

# Direct agent vs openssl speed — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $PINNED
# $(openssl version)
# load average at start: $LOAD_START; at end: $(loadavg)

## Reference (openssl speed, same core, same run)

| measure | value |
| --- | --- |
| RSA-2048 private-key ops (sign/s), before / after / mean | $RSA1 / $RSA2 / $RSA |
| AES-256-CBC encrypt, 16384-byte blocks | $(mbs "$AES_ENC") |
| AES-256-CBC decrypt, 16384-byte blocks | $(mbs "$AES_DEC") |
| SHA-256, 16384-byte blocks | $(mbs "$SHA") |
| base64 encode (openssl enc -base64, 20 MiB, best of 3) | $(mbs "$B64_ENC") |
| base64 decode (openssl enc -d -base64, 20 MiB, best of 3) | $(mbs "$B64_DEC") |
| outgoing bound 1/(1/AES-enc + 1/SHA-256 + 1/b64-enc) | $(mbs "$BOUND_OUT") |
| incoming bound 1/(1/AES-dec + 1/SHA-256 + 1/b64-dec) | $(mbs "$BOUND_IN") |

## 4 KiB message, one recipient, RSA-2048, AES-256-CBC, PKCS#1 v1.5

| operation | time | rate | of openssl speed RSA-2048 sign/s | of in-process RSA-2048 sign |
| --- | --- | --- | --- | --- |
$(ops_row small/outgoing_prepare "outgoing::prepare (with trust)")
$(ops_row small/sign_encrypt "smime::sign + smime::encrypt")
$(ops_row small/incoming_open "incoming::open (with trust)")
$(ops_row small/decrypt_verify "smime::decrypt + smime::verify")
$(ops_row small/sign "smime::sign alone")
$(ops_row small/encrypt "smime::encrypt alone")
$(ops_row small/decrypt "smime::decrypt alone")
$(ops_row small/verify "smime::verify alone")
$(ops_row small/validate_recipient "Validator::validate (CRL cached)")
$(ops_row small/x509_parse "X509::from_der of one RSA-2048 leaf")
$(ops_row small/rsa2048_sign_raw "in-process RSA-2048 sign (openssl crate)")

$(awk -v t="$(ns small/rsa2048_sign_raw)" -v r="$RSA" 'BEGIN {
    if (t == "") exit
    x = 1e9 / t / r
    printf "In-process RSA-2048 sign ran at %.1f%% of openssl speed.", 100 * x
    if (x < 0.9) printf " WARNING: the core was busier during the bench than during openssl speed; the ratios above understate the agent. Rerun on a quieter machine."
    printf "\n" }')

Target 1 (outgoing::prepare >= 85% of RSA-2048 sign/s): $(verdict_ops small/outgoing_prepare 0.85)
Target 2 (incoming::open >= 85% of RSA-2048 sign/s): $(verdict_ops small/incoming_open 0.85)

## 20 MiB message (base64 text body), $MIB20 bytes

| operation | time | throughput | of bound |
| --- | --- | --- | --- |
$(thr_row large/outgoing_prepare "outgoing::prepare (with trust)" "$BOUND_OUT")
$(thr_row large/sign_encrypt "smime::sign + smime::encrypt" "$BOUND_OUT")
$(thr_row large/incoming_open "incoming::open (with trust)" "$BOUND_IN")
$(thr_row large/decrypt_verify "smime::decrypt + smime::verify" "$BOUND_IN")

Target 3a (outgoing >= 50% of bound): $(verdict_thr large/outgoing_prepare "$BOUND_OUT")
Target 3b (incoming >= 50% of bound): $(verdict_thr large/incoming_open "$BOUND_IN")
EOF

if [ -n "$RSS_KB" ]; then
    awk -v k="$RSS_KB" -v n="$MIB20" 'BEGIN {
        x = k * 1024 / n
        printf "\nPeak RSS of one 20 MiB outgoing + incoming round trip (/usr/bin/time -v): %d kB = %.1f MiB = %.2fx the message\n", k, k / 1024, x
        printf "Target 3c (peak RSS <= 6x the message): %s\n", (x <= 6) ? "met" : "NOT met" }'
    echo
    echo "Diagnosis run (MALLOC_MMAP_THRESHOLD_=131072, peak reset per phase and per step):"
    sed 's/^/    /' "$WORK/phases.out"
else
    echo
    echo "Peak RSS: NOT MEASURED (no /usr/bin/time)"
fi
