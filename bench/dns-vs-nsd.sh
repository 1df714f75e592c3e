#!/usr/bin/env bash
# hisp's authoritative DNS responder against NSD, in one run, on loopback.
#
#   bench/dns-vs-nsd.sh [ADDRESSES=1000] [SECONDS=10]
#
# BENCH_DIR=/some/dir keeps the set-up HISP there and reuses it on the next run
# (setting up 1,000 addresses takes about 5 minutes: an RSA key and a password
# hash each).
#
# Builds hisp (release), sets up a throwaway HISP for bench.example.org with
# ADDRESSES addresses (one CERT record each), copies exactly what hisp serves on
# the wire into an NSD zone file, starts both servers on loopback ports, and runs
# dnsperf against each with the same query list (CERT queries for random
# addresses), over UDP and then over TCP. Prints queries/s, errors and the
# hisp/NSD ratio. Installs nsd, dnsperf and dig from Debian when missing.
# Target: hisp >= 50% of NSD's queries/s with no errors.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-1000}
DUR=${2:-10}
DOMAIN=bench.example.org

need=()
command -v nsd >/dev/null || need+=(nsd)
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dig >/dev/null || need+=(dnsutils)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --quiet --bin hisp
if [ -n "${BENCH_DIR:-}" ]; then mkdir -p "$BENCH_DIR"; WORK=$(cd "$BENCH_DIR" && pwd); else WORK=$(mktemp -d /tmp/hisp-dns-bench.XXXXXX); fi
# A copy, so that a rebuild elsewhere during the run cannot swap the binary.
HISP=$WORK/hisp
cp "$ROOT/target/release/hisp" "$HISP"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${BENCH_DIR:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
rm -f errors qps-* perf-*
export HISP_CONFIG=$WORK/hisp.toml HISP_LOG=${HISP_LOG:-warn}

if [ -f hisp.toml ]; then
    echo "== reusing the HISP in $WORK"
else
    echo "== setting up $DOMAIN with $N addresses in $WORK"
    start=$(date +%s)
    "$HISP" init --domain "$DOMAIN" >/dev/null
    seq 1 "$N" | xargs -P 2 -I{} "$HISP" address add "user{}@$DOMAIN" --name "Bench User {}" >/dev/null
    echo "   $(($(date +%s) - start)) s"
fi

# A loopback port free for both UDP and TCP.
free_port() {
    python3 - <<'EOF'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
EOF
}
HISP_PORT=$(free_port)
HISP_DNS_LISTEN=127.0.0.1:$HISP_PORT HISP_HTTP_LISTEN=127.0.0.1:0 "$HISP" serve >serve.log 2>&1 &
PIDS+=($!)
wait_for() { # port
    for _ in $(seq 1 100); do
        dig @127.0.0.1 -p "$1" +norecurse +time=1 +tries=1 "$DOMAIN" SOA | grep -q "status: NOERROR" && return 0
        sleep 0.1
    done
    echo "no DNS answer on port $1" >&2
    return 1
}
wait_for "$HISP_PORT"

echo "== copying hisp's zone to NSD"
"$HISP" dns records --json >records.json
# Ask hisp (over TCP) for every name and type it lists: the zone file holds the
# records exactly as hisp puts them on the wire (CERT as `PKIX 0 0 <base64>`).
python3 - >batch.txt <<'EOF'
import json
seen = set()
for r in json.load(open("records.json")):
    key = (r["name"], r["type"])
    if key not in seen:
        seen.add(key)
        print(f'{r["name"]}. {r["type"]}')
EOF
dig @127.0.0.1 -p "$HISP_PORT" +tcp +norecurse +noall +answer -f batch.txt >answers.txt
python3 - "$DOMAIN" >zone.txt <<'EOF'
import sys
domain = sys.argv[1]
lines = [l.split(None, 4) for l in open("answers.txt") if l.strip() and not l.startswith(";")]
soa = [l for l in lines if l[3] == "SOA"]
rest = [l for l in lines if l[3] != "SOA"]
print(f"$ORIGIN {domain}.")
for name, ttl, cls, rtype, data in soa[:1] + rest:
    print(f"{name} {ttl} {cls} {rtype} {data.strip()}")
EOF
nsd-checkzone "$DOMAIN" zone.txt >/dev/null
CERTS=$(grep -c " CERT " zone.txt)
echo "   $(wc -l <zone.txt) records, $CERTS CERT"

NSD_PORT=$(free_port)
cat >nsd.conf <<EOF
server:
    ip-address: 127.0.0.1@$NSD_PORT
    port: $NSD_PORT
    server-count: $(nproc)
    username: ""
    chroot: ""
    zonesdir: "$WORK"
    database: ""
    zonelistfile: "$WORK/zone.list"
    xfrdfile: "$WORK/xfrd.state"
    xfrdir: "$WORK"
    pidfile: "$WORK/nsd.pid"
    logfile: "$WORK/nsd.log"
    verbosity: 0
    # Debian's NSD rate-limits responses per client netblock (RRL, 200/s by
    # default); hisp does not, so neither may NSD here.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: $DOMAIN
    zonefile: zone.txt
EOF
nsd -d -c nsd.conf &
PIDS+=($!)
wait_for "$NSD_PORT"

# Both must serve the same bytes.
for i in 1 $((N / 2)) "$N"; do
    a=$(dig @127.0.0.1 -p "$HISP_PORT" +tcp +short "user$i.$DOMAIN" CERT)
    b=$(dig @127.0.0.1 -p "$NSD_PORT" +tcp +short "user$i.$DOMAIN" CERT)
    [ -n "$a" ] && [ "$a" = "$b" ] || { echo "hisp and NSD differ for user$i" >&2; exit 1; }
done

python3 - "$N" "$DOMAIN" >queries.txt <<'EOF'
import random, sys
n, domain = int(sys.argv[1]), sys.argv[2]
rng = random.Random(4398)
for _ in range(100_000):
    print(f"user{rng.randint(1, n)}.{domain} CERT")
EOF

run() { # label port mode
    dnsperf -s 127.0.0.1 -p "$2" -m "$3" -d queries.txt -l "$DUR" -c 8 -q 100 -e >"perf-$1-$3.txt" 2>&1 || true
    local qps lost codes
    qps=$(awk '/Queries per second/ {print $4}' "perf-$1-$3.txt")
    lost=$(awk '/Queries lost/ {print $3}' "perf-$1-$3.txt")
    codes=$(sed -n 's/.*Response codes: *//p' "perf-$1-$3.txt")
    printf '  %-5s %-4s %10.0f q/s   lost %-6s %s\n' "$1" "$3" "${qps:-0}" "${lost:-?}" "$codes"
    echo "${qps:-0}" >"qps-$1-$3"
    if [ "${lost:-1}" != 0 ] || [ "$(echo "$codes" | sed 's/NOERROR [0-9]* (100.00%)//' | tr -d ' ')" != "" ]; then
        echo "$1 $3" >>errors
    fi
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== dnsperf, $DUR s each, 8 clients, 100 outstanding, EDNS 0, same $(wc -l <queries.txt) queries"
echo "   (CERT answers exceed 1232 bytes: over UDP both servers answer TC, as DCDT D14 expects)"
for mode in udp tcp; do
    run nsd "$NSD_PORT" "$mode"
    run hisp "$HISP_PORT" "$mode"
done
for mode in udp tcp; do
    python3 - "$mode" "$(cat qps-hisp-$mode)" "$(cat qps-nsd-$mode)" <<'EOF'
import sys
mode, h, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
ratio = h / n if n else 0
print(f"  {mode}: hisp/NSD = {ratio:.0%}  (target >= 50%: {'met' if ratio >= 0.5 else 'NOT met'})")
EOF
done
if [ -s errors ]; then echo "  errors (lost queries or other than NOERROR) in: $(tr '\n' ' ' <errors)"; else echo "  no errors"; fi
echo "load average before/after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(uname -r); nsd $(nsd -v 2>&1 | head -1 | awk '{print $3}'), $(dnsperf -h 2>&1 | grep Version)"
