#!/usr/bin/env bash
# attest-swarm (emulated hosts with software keys, docs/simulator.md) against
# the real verifier:
#   refuses    without --accept-software-keys it prints its warning and
#              refuses to start; with it, it prints the warning anyway
#   green      20 emulated hosts added through the swarm's --register are
#              enrolled (identity, EK certificate from the swarm's test CA,
#              AK, credential activation with the EK's private key) and
#              attested green, and attested again on schedule; their AKs are
#              RSA-2048 (the verifier's default --ak-type rsa asks for the
#              agent's default, and the swarm answers as the agent does), the
#              quotes RSASSA-signed (the verifier checked them), each AK a
#              key of its own from the swarm's prime pool
#   ak-type    attest-verifier --ak-type takes rsa or ecc, anything else is
#              exit 2 naming the value
#   tampered   a host whose log says Secure Boot is off while its digests say
#              on is red EVENT_CONTENT_MISMATCH
#   uncertified a host whose EK certificate comes from a CA the verifier does
#              not trust is red TPM_NOT_CERTIFIED (EK_CERT_UNKNOWN_ISSUER)
#   untrusted  a client other than the pinned verifier gets 403
#              VERIFIER_NOT_TRUSTED
#   one listener every host is served by the swarm's one listening socket
#              (one port), and a connection presents the TLS identity of
#              the host whose address it reached; an address that is no
#              host's gets no handshake
#   restart    a restarted swarm shows the same thumbprints and EKs (keys
#              cached in DIR/hosts.pem); the verifier re-enrolls its hosts
#              (new AKs) and they are green again; with --rsa-aks 1 the pool
#              has one pair and grows a prime at a time as AKs are asked
#   signing    quotes are signed on worker threads (--sign-threads, default
#              one per CPU, at least 2: threads of the process) and answered
#              from the event loop once signed: a quote asked directly gets
#              its quote and signature; connections closed while their
#              signature is in flight leave the swarm serving (and, in the
#              ASan build, nothing leaked or used after free at exit); a bad
#              --sign-threads is exit 2; after the restart (--sign-threads 0)
#              quotes are signed on the loop and the hosts are green again
#   push       6 other hosts in push mode (--push: no port, long polls to the
#              verifier's --push-listen) are added as push hosts and attested
#              through their polls: 5 green, the tampered one red; that
#              verifier has --ak-type ecc and their AKs are ECC P-256
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
for t in jq curl; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-swarm attest-verifier; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built (attest-swarm: -DATTEST_SWARM=ON)"
done
work=$(mktemp -d /tmp/attest-test-swarm.XXXXXX)
. "$(dirname "$0")/lib.sh"
sw_pid=""
cleanup() {
  [ -n "$sw_pid" ] && kill -TERM "$sw_pid" 2>/dev/null && wait "$sw_pid" 2>/dev/null
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
N=20
TAMPERED=7
UNCERT=13
log=$logs/qemu-ovmf-ubuntu-secureboot.bin
# A loopback range of its own, so parallel runs never share an address:port;
# one fixed port, so that a restarted swarm is where the verifier knows it.
first="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).1"
port=$((RANDOM % 20000 + 10000))

# --- refuses
"$bin/attest-swarm" --dir "$work/s" --hosts 2 --eventlog "$log" --trust-first-verifier \
  >"$work/refuse.out" 2>"$work/refuse.err"
rc=$?
[ $rc = 2 ] || fail "without --accept-software-keys: exit $rc, wanted 2"
grep -q 'WARNING: this is an EMULATOR' "$work/refuse.err" || fail "no warning: $(cat "$work/refuse.err")"
grep -q 'refusing to start without --accept-software-keys' "$work/refuse.err" || fail "no refusal line"
[ ! -e "$work/s" ] || fail "it created $work/s before refusing"
grep -q -- '--accept-software-keys' <<<"$("$bin/attest-swarm" --help)" || fail "--help does not name the flag"
"$bin/attest-swarm" --accept-software-keys --prepare --dir "$work/s" --hosts $N --eventlog "$log" \
  2>"$work/prepare.err" || fail "--prepare: $(tail -3 "$work/prepare.err")"
grep -q 'WARNING: this is an EMULATOR' "$work/prepare.err" || fail "no warning with the flag"
[ -s "$work/s/ca-cert.pem" ] && [ -s "$work/s/hosts.pem" ] || fail "--prepare made no CA or keys"
[ "$(stat -c %a "$work/s/hosts.pem")" = 600 ] || fail "hosts.pem (private keys) is not mode 600"
ok "refuses without --accept-software-keys, warns with it"

# --- green: the verifier trusts the swarm's test CA only
mkdir -p "$work/cas" && cp "$work/s/ca-cert.pem" "$work/cas/"
start_verifier --attest-interval 3
tok=$(tr -d '\n' <"$work/vd/admin.token")
start_swarm() { # extra args
  : >"$work/sw.out"
  "$bin/attest-swarm" --accept-software-keys --dir "$work/s" --hosts $N --eventlog "$log" \
    --first-address "$first" --port $port --trust-verifier "$vthumb" --tamper-log $TAMPERED \
    --uncertified $UNCERT --register "$url" --token-file "$work/vd/admin.token" "$@" \
    >"$work/sw.out" 2>>"$work/sw.err" &
  sw_pid=$!
  for _ in $(seq 300); do
    grep -q '^registered' "$work/sw.out" && break
    kill -0 $sw_pid 2>/dev/null || fail "attest-swarm exited: $(tail -3 "$work/sw.err")"
    sleep 0.1
  done
  grep -q "^registered $N failed 0$" "$work/sw.out" || fail "registration: $(cat "$work/sw.out") $(tail -3 "$work/sw.err")"
}
start_swarm
# wait_states GREEN RED: every host has a verdict, as many green and red
wait_states() {
  local st
  for _ in $(seq 120); do
    call "$tok" GET /api/v1/status 200
    st=$body
    [ "$(jq -r .hosts.green <<<"$st")" = "$1" ] && [ "$(jq -r .hosts.red <<<"$st")" = "$2" ] && return 0
    sleep 0.5
  done
  fail "wanted $1 green and $2 red: $st"
}
wait_states $((N - 2)) 2
ok "$((N - 2)) emulated hosts green, 2 red"

host_reasons() { # NAME -> codes of its reasons, one line
  call "$tok" GET "/api/v1/hosts/$1" 200
  jq -r '[.reasons[]?.code] | join(" ")' <<<"$body"
}
r=$(host_reasons "$(printf 'swarm-%05d' $TAMPERED)")
[[ $r == *EVENT_CONTENT_MISMATCH* ]] || fail "tampered host reasons: $r"
ok "tampered log: red ($r)"
r=$(host_reasons "$(printf 'swarm-%05d' $UNCERT)")
[[ $r == TPM_NOT_CERTIFIED*EK_CERT_UNKNOWN_ISSUER* ]] || fail "uncertified host reasons: $r"
ok "uncertified EK: red ($r)"

# attested again on schedule (every 3 s): the green hosts' counts grow
call "$tok" GET /api/v1/hosts/swarm-00001 200
n1=$(jq '[.results[]?] | length' <<<"$body")
sleep 7
call "$tok" GET /api/v1/hosts/swarm-00001 200
n2=$(jq '[.results[]?] | length' <<<"$body")
[ "$(field .trust)" = green ] && [ "$n2" -gt "$n1" ] || fail "not re-attested green: $n1 -> $n2, $(field .trust)"
kill -USR1 $sw_pid
for _ in $(seq 20); do grep -q '^stats' "$work/sw.out" && break; sleep 0.1; done
grep -Eq "^stats hosts $N identities [0-9]+ aks [0-9]+ activations $((N - 1)) activation_failures 0 quotes [1-9]" "$work/sw.out" ||
  fail "swarm stats: $(grep '^stats' "$work/sw.out")"
# the quotes' answer times since the start: p50 <= p99, neither 0 ms or over 1 s on an idle swarm
read -r a50 a99 < <(sed -n 's/^stats .* answer_p50_ms \([-0-9]*\) answer_p99_ms \([-0-9]*\)$/\1 \2/p' "$work/sw.out" | tail -1)
[ -n "$a50" ] && [ "$a50" -ge 1 ] && [ "$a50" -le "$a99" ] && [ "$a99" -le 1000 ] ||
  fail "swarm answer times: $(grep '^stats' "$work/sw.out" | tail -1)"
# and they count afresh from each stats line: none since the last
kill -USR1 $sw_pid
for _ in $(seq 20); do [ "$(grep -c '^stats' "$work/sw.out")" -ge 2 ] && break; sleep 0.1; done
grep '^stats' "$work/sw.out" | tail -1 | grep -Eq " answer_p50_ms (-1|[0-9]+) answer_p99_ms (-1|[0-9]+)$" ||
  fail "second stats line: $(grep '^stats' "$work/sw.out" | tail -1)"
ok "re-attested on schedule ($n1 -> $n2 results); $(grep '^stats' "$work/sw.out" | tail -1)"
# AKs: what the verifier asked (nothing: RSA-2048), made by the swarm and
# stored by the verifier. On SQLite the stored TPM2B_PUBLIC's type too
# (bytes 3-4: 0x0001 RSA, 0x0023 ECC).
st=$(grep '^stats' "$work/sw.out" | tail -1)
aks=$(sed -n 's/.* aks \([0-9]*\) .*/\1/p' <<<"$st")
rsa=$(sed -n 's/.* aks_rsa \([0-9]*\) .*/\1/p' <<<"$st")
[ "${aks:-0}" -ge $((N - 1)) ] && [ "$rsa" = "$aks" ] || fail "default AKs not all RSA: $st"
ak_types() { # HOST-NAME-PATTERN -> "TYPE COUNT" lines of the stored AKs
  sqlite3 "$work/vd/verifier.db" "SELECT hex(substr(a.public_area, 3, 2)), count(*),
    count(DISTINCT a.name) FROM aks a JOIN hosts h ON h.id = a.host_id
    WHERE h.name LIKE '$1' GROUP BY 1"
}
if [ -z "${ATTEST_TEST_DB:-}" ] && command -v sqlite3 >/dev/null; then
  t=$(ak_types 'swarm-%')
  [[ $t == "0001|"* ]] && [ "$(wc -l <<<"$t")" = 1 ] || fail "stored AKs are not all RSA: $t"
fi
ok "default --ak-type: $rsa RSA-2048 AKs of $aks, quotes verified"

# --- ak-type: a bad value is refused before anything starts
"$bin/attest-verifier" --data-dir "$work/vbad" --ak-type dsa >"$work/bad.out" 2>"$work/bad.err"
rc=$?
[ $rc = 2 ] || fail "--ak-type dsa: exit $rc, wanted 2"
grep -q -- '--ak-type must be rsa or ecc, not "dsa"' "$work/bad.err" || fail "--ak-type dsa: $(cat "$work/bad.err")"
[ ! -e "$work/vbad" ] || fail "--ak-type dsa created the data directory"
grep -q -- '--ak-type rsa|ecc' <<<"$("$bin/attest-verifier" --help)" || fail "--help does not name --ak-type"
ok "--ak-type dsa: exit 2 ($(cat "$work/bad.err"))"

# Re-attestations of an unchanged boot carry no log (the swarm speaks the
# agent's protocol): the verifier counts quotes judged from its memo.
call "$tok" GET /metrics 200
used=$(sed -n 's/^attest_eventlog_unchanged_total{result="used"} //p' <<<"$body")
[ "${used:-0}" -gt 0 ] || fail "no quote came without its unchanged log: $(grep eventlog_unchanged <<<"$body")"
ok "$used quotes judged without the unchanged log being sent"

# --- untrusted: another client certificate gets 403
addr=$(awk -F'\t' 'NR == 1 {print $2}' "$work/s/hosts.tsv")
st=$(curl -sk -o "$work/403.json" -w '%{http_code}' "https://$addr/v1/identity")
[ "$st" != 200 ] || fail "identity answered to a client without a certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=x -days 1 \
  -keyout "$work/x.key" -out "$work/x.crt" 2>/dev/null || fail "openssl req"
st=$(curl -sk --cert "$work/x.crt" --key "$work/x.key" -o "$work/403.json" -w '%{http_code}' \
  "https://$addr/v1/identity")
[ "$st" = 403 ] && [ "$(jq -r .error.code "$work/403.json")" = VERIFIER_NOT_TRUSTED ] ||
  fail "another client: HTTP $st $(cat "$work/403.json")"
ok "another client certificate: 403 VERIFIER_NOT_TRUSTED"

# --- signing: on worker threads, answered from the loop once signed
"$bin/attest-swarm" --accept-software-keys --dir "$work/s" --hosts 2 --eventlog "$log" \
  --trust-first-verifier --sign-threads x >"$work/st.out" 2>"$work/st.err"
rc=$?
[ $rc = 2 ] && grep -q -- '--sign-threads: 0\.\.' "$work/st.err" || fail "--sign-threads x: exit $rc $(cat "$work/st.err")"
grep -q -- '--sign-threads N' <<<"$("$bin/attest-swarm" --help)" || fail "--help does not name --sign-threads"
threads=$(ls /proc/$sw_pid/task | wc -l)
[ "$threads" -ge 3 ] || fail "attest-swarm runs $threads threads: no signing threads"
signing_threads=$threads
vcert=(--cert "$work/vd/verifier.crt" --key "$work/vd/verifier.key")
qbody='{"nonce":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}'
curl -sk "${vcert[@]}" -o "$work/q.json" -H 'Content-Type: application/json' -d "$qbody" \
  "https://$addr/v1/quote" || fail "POST /v1/quote: curl exit $?"
[ "$(jq -r '.nonce' "$work/q.json")" = "${qbody:10:64}" ] && [ "$(jq -r '.quote | length > 0' "$work/q.json")" = true ] &&
  [ "$(jq -r '.signature | length > 0' "$work/q.json")" = true ] || fail "quote answer: $(head -c 300 "$work/q.json")"
# Closed at once after the request: the answer finds no connection.
req=$(printf 'POST /v1/quote HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
  ${#qbody} "$qbody")
clients=()
for _ in $(seq 20); do
  printf '%s' "$req" | openssl s_client -quiet -no_ign_eof -connect "$addr" -cert "$work/vd/verifier.crt" \
    -key "$work/vd/verifier.key" >/dev/null 2>&1 &
  clients+=($!)
done
wait "${clients[@]}"
kill -0 $sw_pid 2>/dev/null || fail "attest-swarm died after connections closed mid-quote: $(tail -5 "$work/sw.err")"
st=$(curl -sk "${vcert[@]}" -o "$work/q2.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "$qbody" "https://$addr/v1/quote")
[ "$st" = 200 ] || fail "after abandoned quotes: HTTP $st $(head -c 300 "$work/q2.json")"
ok "quotes signed on worker threads ($threads threads), answered once signed, also to closed connections"

# --- one listener: every host on its own address, one port, one listening
# socket; each connection presents the identity of the address it reached
[ "$(cut -f2 "$work/s/hosts.tsv" | sed 's/.*://' | sort -u | wc -l)" = 1 ] ||
  fail "hosts on several ports: $(cut -f2 "$work/s/hosts.tsv" | head -3)"
[ "$(cut -f2 "$work/s/hosts.tsv" | sort -u | wc -l)" = $N ] || fail "hosts share addresses"
if command -v ss >/dev/null; then
  nl=$(ss -ltnpH 2>/dev/null | grep -c "pid=$sw_pid,")
  [ "$nl" = 1 ] || fail "attest-swarm has $nl listening sockets, wanted 1: $(ss -ltnp | grep "pid=$sw_pid,")"
fi
for i in 1 2 $TAMPERED $N; do
  read -r a tp < <(awk -F'\t' -v i="$i" 'NR == i {print $2, $3}' "$work/s/hosts.tsv")
  got=$(openssl s_client -connect "$a" -cert "$work/x.crt" -key "$work/x.key" </dev/null 2>/dev/null |
    openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
  [ -n "$got" ] && [ "SHA256:$got" = "$tp" ] ||
    fail "host $i at $a presented SHA256:$got, hosts.tsv says $tp"
done
# an address of the loopback range that is no host's: no identity, no handshake
nohost="${first%.*}.$((N + 100))"
openssl s_client -connect "$nohost:$port" -cert "$work/x.crt" -key "$work/x.key" </dev/null \
  >"$work/nohost.out" 2>&1 && fail "a handshake at $nohost:$port, which is no host's"
fds=$(ls /proc/$sw_pid/fd | wc -l)
ok "one listener on port $port serves $N hosts, each with its own identity ($fds open files)"

# --- restart: same identities, hosts re-enrolled, green again
th1=$(cut -f3 "$work/s/hosts.tsv" | sort | sha256sum)
kill -TERM $sw_pid
wait $sw_pid
rc=$?
sw_pid=""
[ $rc = 0 ] || fail "attest-swarm exited $rc on SIGTERM: $(tail -5 "$work/sw.err")"
! grep -q 'Sanitizer' "$work/sw.err" || fail "sanitizer report: $(grep -A5 Sanitizer "$work/sw.err" | head -20)"
start_swarm --rsa-aks 1 --sign-threads 0
threads=$(ls /proc/$sw_pid/task | wc -l)
[ "$threads" -le $((signing_threads - 2)) ] || fail "--sign-threads 0: attest-swarm runs $threads threads"
th2=$(cut -f3 "$work/s/hosts.tsv" | sort | sha256sum)
[ "$th1" = "$th2" ] || fail "thumbprints changed across a restart"
grep -q "$N host identities loaded" "$work/sw.err" || fail "keys not loaded from hosts.pem"
for _ in $(seq 120); do
  kill -USR1 $sw_pid
  sleep 0.5
  grep -Eq "^stats hosts $N identities [0-9]+ aks [0-9]+ activations $((N - 1)) " "$work/sw.out" && break
done
grep -Eq "^stats hosts $N identities [0-9]+ aks [0-9]+ activations $((N - 1)) " "$work/sw.out" ||
  fail "hosts not re-enrolled after the restart: $(grep '^stats' "$work/sw.out" | tail -1)"
wait_states $((N - 2)) 2
st=$(grep '^stats' "$work/sw.out" | tail -1)
primes=$(sed -n 's/.* rsa_primes \([0-9]*\) .*/\1/p' <<<"$st")
# K primes give K(K-1)/2 AKs: 19 need 7
[ "${primes:-0}" -ge 7 ] || fail "the prime pool did not grow: $st"
if [ -z "${ATTEST_TEST_DB:-}" ] && command -v sqlite3 >/dev/null; then
  t=$(ak_types 'swarm-%')
  IFS='|' read -r ty cnt dis <<<"$t"
  [ "$ty" = 0001 ] && [ "$cnt" -ge $((2 * (N - 1))) ] && [ "$cnt" = "$dis" ] || fail "AKs after the restart: $t"
fi
ok "restarted swarm: same thumbprints, $((N - 1)) hosts re-enrolled on new RSA AKs ($primes primes), $((N - 2)) green again, signed on the loop (--sign-threads 0)"

# --- push: hosts that open no port long-poll the verifier (attest-swarm
# --push, as attest-agent --push): the same calls over the push carrier.
kill -TERM $sw_pid && wait $sw_pid
sw_pid=""
kill -TERM "$ver_pid" && wait "$ver_pid"
P=6
# Other hosts (their own keys), EKs from the same test CA the verifier trusts.
mkdir -p "$work/p" && cp "$work/s/ca.pem" "$work/p/"
start_verifier --attest-interval 3 --push-listen 127.0.0.1:0 --ak-type ecc
push_url=$(sed -n 's/^push-listen \(https:.*\)$/\1/p' "$work/ver.out")
[ -n "$push_url" ] || fail "the verifier printed no push-listen line"
: >"$work/psw.out"
"$bin/attest-swarm" --accept-software-keys --dir "$work/p" --hosts $P --eventlog "$log" \
  --name-prefix pswarm --trust-verifier "$vthumb" --tamper-log 3 --register "$url" \
  --token-file "$work/vd/admin.token" --push "$push_url" --rsa-aks 0 >"$work/psw.out" 2>>"$work/psw.err" &
sw_pid=$!
for _ in $(seq 300); do
  grep -q '^registered' "$work/psw.out" && break
  kill -0 $sw_pid 2>/dev/null || fail "attest-swarm --push exited: $(tail -3 "$work/psw.err")"
  sleep 0.1
done
grep -q "^registered $P failed 0$" "$work/psw.out" || fail "push registration: $(cat "$work/psw.out")"
for i in $(seq $P); do
  want=green
  [ "$i" = 3 ] && want=red
  h=$(printf 'pswarm-%05d' "$i")
  for _ in $(seq 120); do
    call "$tok" GET "/api/v1/hosts/$h" 200
    [ "$(field .trust)" = $want ] && break
    sleep 0.5
  done
  [ "$(field .trust)" = $want ] && [ "$(field .mode)" = push ] ||
    fail "$h: $(jq -c '{trust, mode, connection, reasons}' <<<"$body"), wanted $want (push)"
done
grep -q "pid=$sw_pid," <<<"$(ss -ltnp 2>/dev/null)" && fail "attest-swarm --push listens: $(ss -ltnp | grep "pid=$sw_pid,")"
kill -USR1 $sw_pid
for _ in $(seq 20); do grep -q '^push polls' "$work/psw.out" && break; sleep 0.1; done
grep -Eq '^push polls [1-9]' "$work/psw.out" || fail "push stats: $(grep -E '^(stats|push)' "$work/psw.out")"
st=$(grep '^stats' "$work/psw.out" | tail -1)
grep -Eq " aks [1-9][0-9]* .* aks_rsa 0 rsa_primes 0 " <<<"$st" || fail "--ak-type ecc: the swarm made RSA AKs: $st"
if [ -z "${ATTEST_TEST_DB:-}" ] && command -v sqlite3 >/dev/null; then
  t=$(ak_types 'pswarm-%')
  [[ $t == "0023|"* ]] && [ "$(wc -l <<<"$t")" = 1 ] || fail "stored AKs with --ak-type ecc: $t"
fi
ok "push: $((P - 1)) hosts green and 1 red through their long polls, none listening; $(grep '^push' "$work/psw.out" | tail -1)"
