#!/usr/bin/env bash
# hisp's MX listener against Postfix, in one run, on loopback, with Postfix's own
# load generator (smtp-source).
#
#   bash bench/smtp-vs-postfix.sh [MESSAGES=2000] [SESSIONS=16] [SIZE=4096] [ROUNDS=2]
#
# Builds hisp (release), sets up a throwaway HISP for bench.test with one address
# (jo@bench.test) and a throwaway Postfix instance (its own config_directory,
# queue_directory and data_directory) that accepts mail for the same address,
# both under one temp dir on the same disk. Then, ROUNDS times with the order
# alternating, runs
#
#   smtp-source -s SESSIONS -l SIZE -m MESSAGES -f bench@sender.test -t jo@bench.test
#
# against each and times it with the wall clock: every message is one SMTP
# session (connect, EHLO, MAIL, RCPT, DATA, QUIT) and smtp-source returns after
# the last 250. That is the acceptance rate. Before each run the previous one's
# messages must have left both queues (hisp: quarantined by its inbound worker;
# Postfix: delivered to discard), and the script also prints when they did
# (the "drained" rate: accepted and processed).
#
# Fairness:
# - Both commit before 250: hisp inserts into its SQLite inbound queue (WAL,
#   synchronous=FULL, fsync per commit); Postfix's cleanup fsyncs the queue file.
#   Both queues live in the same temp dir, on the same disk.
# - Both check the recipient at RCPT (unknown users get 550) and do no DNS:
#   Postfix with smtpd_peername_lookup = no; hisp does none on the MX.
# - After 250, hisp's inbound worker tries to open the plain message as S/MIME
#   and quarantines it (a store write). Postfix gets the cheapest sink it has,
#   the discard transport (its queue manager still moves, delivers and removes
#   each queue file). That favours Postfix; the ratio is therefore conservative.
# - Both log every message as they do by default: hisp at INFO (HISP_LOG unset)
#   to a file, Postfix through postlogd to a file (maillog_file).
# - Neither limits connections from 127.0.0.1 here: Postfix exempts mynetworks
#   from its per-client limits; hisp's max_connections_per_ip is raised to 256.
# - Plain SMTP, no STARTTLS, on both (smtp-source does not do TLS).
#
# Installs postfix (for smtp-source and the peer) and sqlite3 when missing.
# Target: hisp's acceptance rate >= 1.0x Postfix's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-2000}
SESSIONS=${2:-16}
SIZE=${3:-4096}
ROUNDS=${4:-2}
DOMAIN=bench.test
RCPT=jo@$DOMAIN
export LC_ALL=C

need=()
[ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/postfix ] || need+=(postfix)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    # postfix's debconf: "No configuration"; this script writes its own.
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "$(id -u)" != 0 ]; then
    echo "run as root: Postfix's master must start as root" >&2
    exit 1
fi

cargo build --release --quiet --bin hisp
WORK=$(mktemp -d /tmp/hisp-smtp-bench.XXXXXX)
chmod 755 "$WORK"
# A copy, so that a rebuild elsewhere during the run cannot swap the binary.
HISP=$WORK/hisp-bin
cp "$ROOT/target/release/hisp" "$HISP"
PF=$WORK/postfix
HISP_PID=
cleanup() {
    if [ -f "$PF/etc/main.cf" ]; then postfix -c "$PF/etc" stop >/dev/null 2>&1 || true; fi
    if [ -n "$HISP_PID" ]; then
        kill "$HISP_PID" 2>/dev/null || true
        wait "$HISP_PID" 2>/dev/null || true
    fi
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_banner() { # port
    python3 - "$1" <<'EOF'
import socket, sys, time
for _ in range(200):
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
            if s.recv(512).startswith(b"220"):
                s.sendall(b"QUIT\r\n")
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(f"no SMTP banner on port {sys.argv[1]}")
EOF
}

# ---- hisp -------------------------------------------------------------------
echo "== setting up hisp for $DOMAIN in $WORK/hisp"
mkdir -p "$WORK/hisp"
(
    cd "$WORK/hisp"
    export HISP_CONFIG=$WORK/hisp/hisp.toml
    "$HISP" init --domain "$DOMAIN" >/dev/null
    echo "bench password, not a secret" | "$HISP" address add "$RCPT" --password-stdin >/dev/null
)
HISP_DB=$WORK/hisp/hisp-data/hisp.db
HISP_PORT=$(free_port)
(
    cd "$WORK/hisp"
    export HISP_CONFIG=$WORK/hisp/hisp.toml
    export HISP_SMTP_MX_LISTEN=127.0.0.1:$HISP_PORT
    export HISP_SMTP_SUBMISSION_LISTEN=127.0.0.1:0 HISP_HTTP_LISTEN=127.0.0.1:0 HISP_DNS_LISTEN=127.0.0.1:0
    export HISP_SMTP_MAX_CONNECTIONS_PER_IP=256
    exec "$HISP" serve >"$WORK/hisp.log" 2>&1
) &
HISP_PID=$!
wait_banner "$HISP_PORT"

# ---- Postfix ----------------------------------------------------------------
echo "== setting up Postfix $(postconf -h mail_version) in $PF"
PF_PORT=$(free_port)
mkdir -p "$PF/etc" "$PF/spool" "$PF/lib"
chown postfix "$PF/lib"
cp /etc/postfix/master.cf "$PF/etc/master.cf"
cat >"$PF/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/lib
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
mydestination = $DOMAIN
mynetworks = 127.0.0.0/8
# The one address hisp accepts too; other recipients get 550 5.1.1 at RCPT.
local_recipient_maps = inline:{jo=ok, $RCPT=ok}
alias_maps =
alias_database =
# The cheapest sink: accepted, queued, then dropped by the discard transport.
local_transport = discard:bench sink
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP
biff = no
EOF
postconf -c "$PF/etc" -F '*/*/chroot = n'
postconf -c "$PF/etc" -MX smtp/inet
postconf -c "$PF/etc" -M "127.0.0.1:$PF_PORT/inet = 127.0.0.1:$PF_PORT inet n - n - - smtpd"
postfix -c "$PF/etc" check
postfix -c "$PF/etc" start >/dev/null
wait_banner "$PF_PORT"

# ---- helpers ----------------------------------------------------------------
sql() { sqlite3 -cmd '.timeout 5000' "$HISP_DB" "$1"; }
hisp_total() { sql "SELECT count(*) FROM inbound_queue"; }
hisp_pending() { sql "SELECT count(*) FROM inbound_queue WHERE state = 'new'"; }
pf_pending() { find "$PF/spool/incoming" "$PF/spool/active" "$PF/spool/deferred" "$PF/spool/maildrop" -type f | wc -l; }
pf_total() { grep -c ' status=sent ' "$PF/maillog" || true; }
now() { date +%s.%N; }
# Wait until the server's queue is empty; prints the time it became so.
drain() { # hisp|postfix
    for _ in $(seq 1 6000); do
        if [ "$1" = hisp ]; then [ "$(hisp_pending)" = 0 ] && break; else [ "$(pf_pending)" = 0 ] && break; fi
        sleep 0.05
    done
    now
}

source_run() { # label port count
    smtp-source -s "$SESSIONS" -l "$SIZE" -m "$3" -M client.sender.test \
        -f bench@sender.test -t "$RCPT" "127.0.0.1:$2" >"$WORK/source-$1.log" 2>&1 || {
        echo "smtp-source against $1 failed:" >&2
        cat "$WORK/source-$1.log" >&2
        exit 1
    }
}

# One timed run; appends "label round accepted_per_s drained_per_s" to results.
timed() { # label round
    local label=$1 port before after s e d acc
    drain hisp >/dev/null
    drain postfix >/dev/null
    sleep 1 # let postlogd catch up before counting
    if [ "$label" = hisp ]; then port=$HISP_PORT; before=$(hisp_total); else port=$PF_PORT; before=$(pf_total); fi
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    s=$(now)
    source_run "$label" "$port" "$N"
    e=$(now)
    d=$(drain "$label")
    for _ in $(seq 1 50); do
        if [ "$label" = hisp ]; then after=$(hisp_total); else after=$(pf_total); fi
        acc=$((after - before))
        [ "$acc" -lt "$N" ] || break
        sleep 0.1
    done
    if [ "$acc" != "$N" ]; then
        echo "$label: $acc of $N messages reached the queue/sink" >&2
        exit 1
    fi
    awk -v l="$label" -v r="$2" -v n="$N" -v s="$s" -v e="$e" -v d="$d" -v load="$load" 'BEGIN {
        printf "  round %d  %-7s accepted %5d in %6.2f s = %7.1f msgs/s   drained after %6.2f s = %7.1f msgs/s   (load %s)\n",
            r, l, n, e - s, n / (e - s), d - s, n / (d - s), load
        printf "%s %d %.3f %.3f\n", l, r, n / (e - s), n / (d - s) >> "'"$WORK/results"'"
    }'
}

# Unknown recipients must be refused by both (the same RCPT check).
for p in "$HISP_PORT" "$PF_PORT"; do
    out=$(smtp-source -m 1 -f bench@sender.test -t "nobody@$DOMAIN" "127.0.0.1:$p" 2>&1 || true)
    case $out in
        *"rejected: 550"*) ;;
        *) echo "the server on port $p did not refuse an unknown recipient with 550: $out" >&2; exit 1 ;;
    esac
done

echo "== warm-up: 200 messages each (untimed)"
source_run hisp "$HISP_PORT" 200
source_run postfix "$PF_PORT" 200
drain hisp >/dev/null
drain postfix >/dev/null

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== smtp-source -s $SESSIONS -l $SIZE -m $N -f bench@sender.test -t $RCPT, $ROUNDS rounds, order alternating"
: >"$WORK/results"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        timed postfix "$r"
        timed hisp "$r"
    else
        timed hisp "$r"
        timed postfix "$r"
    fi
done

echo "== hisp / Postfix"
python3 - "$WORK/results" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
acc = {(l, int(r)): float(a) for l, r, a, d in rows}
drn = {(l, int(r)): float(d) for l, r, a, d in rows}
rounds = sorted({int(r) for _, r, _, _ in rows})
ratios = []
for r in rounds:
    x = acc[("hisp", r)] / acc[("postfix", r)]
    y = drn[("hisp", r)] / drn[("postfix", r)]
    ratios.append(x)
    print(f"  round {r}: accepted {x:.2f}x   drained {y:.2f}x")
mean = lambda k: sum(v for (l, _), v in acc.items() if l == k) / len(rounds)
overall = mean("hisp") / mean("postfix")
print(f"  mean acceptance: hisp {mean('hisp'):.1f} msgs/s, Postfix {mean('postfix'):.1f} msgs/s = {overall:.2f}x")
worst = min(ratios)
print(f"  target (hisp >= 1.0x Postfix): {'met' if worst >= 1.0 else 'NOT met'} (worst round {worst:.2f}x)")
EOF
echo "load average before/after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(uname -r); postfix $(postconf -h mail_version); $(openssl version | cut -d' ' -f1-2)"
if grep -E ' (ERROR|WARN) ' "$WORK/hisp.log" | grep -qv 'message quarantined'; then
    echo "hisp logged warnings or errors:"
    grep -E ' (ERROR|WARN) ' "$WORK/hisp.log" | grep -v 'message quarantined' | sed -E 's/^[^ ]+ +//' | sort | uniq -c | sort -rn | head -5
fi
