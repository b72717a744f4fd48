#!/usr/bin/env bash
# The web dashboard, end to end: a real attest-verifier with two simulated
# hosts (green: Secure Boot on; red: Secure Boot off) and real agents, then
#   http     the assets served from the binary: content types, CSP without
#            inline script, framing and referrer headers, ETag + 304; the
#            evidence endpoint and the policy dry run the dashboard uses
#   browser  tests/browser/dashboard.test.mjs in headless Chromium
#            (playwright-core): sign in, fleet states, the red host's reason,
#            alarm acknowledged by admin and refused for viewer, a host
#            turning red without a reload; then 250 more hosts written into
#            the database (fleetlib.sh): the fleet view pages, filters and
#            sorts on the server, its URL reopens the same view, a host
#            changing colour moves; screenshots in $ATTEST_BUILD/screenshots
#
# --bench [N] (make bench-dashboard, scripts/bench.sh): no agents; a verifier
# serving N hosts (default 10,000) written into its database by fleetlib.sh,
# then tests/browser/dashboard.bench.mjs prints the API latency of the fleet
# view's page queries and Chromium's first paint and time to the fleet
# table. Prints figures, asserts nothing.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
build=${ATTEST_BUILD:-$(dirname "$bin")}
logs=../shared/testdata/eventlogs
here=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }

if [ "${1:-}" = --bench ]; then
  hosts=${2:-10000}
  echo "== dashboard at $hosts hosts (tests/integration/test_dashboard.sh --bench)"
  skip() { echo "not run: $*"; exit 0; }
  command -v node >/dev/null || skip "node is not installed"
  chromium=${CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] || skip "$chromium is not installed"
  for t in jq curl sqlite3; do command -v $t >/dev/null || skip "$t not installed"; done
  [ -x "$bin/attest-verifier" ] || skip "$bin/attest-verifier not built"
  [ -f "$here/tests/browser/node_modules/playwright-core/package.json" ] ||
    skip "playwright-core not installed (scripts/install-deps.sh)"
  work=$(mktemp -d /tmp/attest-bench-dashboard.XXXXXX)
  # shellcheck source=lib.sh
  . "$here/tests/integration/lib.sh"
  # shellcheck source=fleetlib.sh
  . "$here/tests/integration/fleetlib.sh"
  trap 'lib_cleanup; rm -rf "$work"' EXIT
  mkdir -p "$work/cas"
  start_verifier
  t0=$(date +%s%N)
  fleet_fill "$hosts"
  backend=SQLite
  [ -n "${ATTEST_TEST_DB:-}" ] && backend=PostgreSQL
  echo "fill: $hosts hosts with verdicts written into $backend in $((($(date +%s%N) - t0) / 1000000)) ms"
  DASH_URL=$url DASH_ADMIN=$(tr -d '\n' <"$work/vd/admin.token") DASH_HOSTS=$hosts \
    DASH_CHROMIUM=$chromium DASH_PROFILE="$work/chromium-profile" \
    node "$here/tests/browser/dashboard.bench.mjs" || fail "the bench failed"
  exit 0
fi
command -v node >/dev/null || skip "node is not installed (scripts/install-deps.sh)"
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || skip "$chromium is not installed (scripts/install-deps.sh)"
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in jq curl sqlite3; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent attest-verifier; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done

work=$(mktemp -d /tmp/attest-test-dashboard.XXXXXX)
# shellcheck source=lib.sh
. "$here/tests/integration/lib.sh"
trap 'lib_cleanup; rm -rf "$work"' EXIT

# playwright-core, pinned in tests/browser/package-lock.json.
if [ ! -f "$here/tests/browser/node_modules/playwright-core/package.json" ]; then
  (cd "$here/tests/browser" && npm ci --prefer-offline --no-audit --no-fund --silent) ||
    fail "playwright-core is not installed and npm ci failed (run scripts/install-deps.sh)"
fi

sim good qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
sim nosb gce-ubuntu2104-no-secureboot.bin "$work/ca"
mkdir -p "$work/cas"
cp "$work/ca/ca.pem" "$work/cas/test-ek-ca.pem"
start_verifier
admin=$(tr -d '\n' <"$work/vd/admin.token")
call "$admin" POST /api/v1/tokens '{"name":"ops-viewer","role":"viewer"}' 201
viewer=$(field .token)
call "$admin" POST "/api/v1/hosts?wait=1" \
  "{\"address\":\"127.0.0.1:$good_port\",\"name\":\"good\",\"thumbprint\":\"$good_thumb\"}" 201
[ "$(field .trust)" = green ] || fail "good host is $(field .trust): $(field -c .reasons)"
call "$admin" POST "/api/v1/hosts?wait=1" \
  "{\"address\":\"127.0.0.1:$nosb_port\",\"name\":\"nosb\",\"thumbprint\":\"$nosb_thumb\"}" 201
[ "$(field .trust)" = red ] || fail "nosb host is $(field .trust)"
ok "verifier with a green and a red host"

# --- the assets, as served ---------------------------------------------------
hdr=$(curl -sk -D - -o "$work/index.html" "$url/")
grep -qi '^content-type: text/html; charset=utf-8' <<<"$hdr" || fail "/ content type: $hdr"
csp=$(sed -n 's/^[Cc]ontent-[Ss]ecurity-[Pp]olicy: //p' <<<"$hdr" | tr -d '\r')
grep -q "default-src 'self'" <<<"$csp" && grep -q "frame-ancestors 'none'" <<<"$csp" ||
  fail "CSP: $csp"
! grep -q "unsafe-inline\|unsafe-eval" <<<"$csp" || fail "CSP allows inline code: $csp"
grep -qi '^x-frame-options: DENY' <<<"$hdr" || fail "no X-Frame-Options DENY"
grep -qi '^referrer-policy: no-referrer' <<<"$hdr" || fail "no Referrer-Policy"
grep -qi '^x-content-type-options: nosniff' <<<"$hdr" || fail "no nosniff"
etag=$(sed -n 's/^[Ee][Tt]ag: //p' <<<"$hdr" | tr -d '\r')
[ -n "$etag" ] || fail "no ETag"
grep -q 'name="token"' "$work/index.html" || fail "no token input on the page"
! grep -qi '<script>' "$work/index.html" || fail "inline script in index.html"
[ "$(curl -sk -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url/index.html")" = 304 ] ||
  fail "If-None-Match with the ETag is not 304"
for a in app.js:text/javascript style.css:text/css favicon.svg:image/svg+xml; do
  ct=$(curl -sk -o /dev/null -w '%{content_type}' "$url/${a%%:*}")
  [[ "$ct" == "${a#*:}"* ]] || fail "/${a%%:*} served as $ct"
done
[ "$(curl -sk -o /dev/null -w '%{http_code}' "$url/nope.js")" = 404 ] || fail "unknown asset not 404"
call "$admin" GET /api/v1/nope 404
[ "$(field .error.code)" = NOT_FOUND ] || fail "unknown API path not a JSON 404: $body"
ok "assets from the binary: types, CSP without inline code, DENY framing, no-referrer, ETag -> 304"

# --- the evidence endpoint and the dry run ------------------------------------
call "$viewer" GET /api/v1/hosts/nosb/evidence 200
[ "$(field '.events|length')" -gt 10 ] || fail "evidence has $(field '.events|length') events"
sbev=$(field '.facts.secure_boot_event')
[ "$(field .facts.secure_boot)" = disabled ] || fail "facts: Secure Boot $(field .facts.secure_boot)"
jq -e --argjson n "$sbev" '.events[$n].diverges and (.events[$n].reasons|index("SECURE_BOOT_DISABLED"))' \
  <<<"$body" >/dev/null || fail "the SecureBoot event $sbev is not marked diverging"
jq -e --argjson n "$sbev" '.events[$n].description|test("SecureBoot")' <<<"$body" >/dev/null ||
  fail "event $sbev description: $(jq -c --argjson n "$sbev" '.events[$n]' <<<"$body")"
jq -e '[.pcrs[]|select(.bank=="sha256")]|length > 0 and all(.matches)' <<<"$body" >/dev/null ||
  fail "PCR table: $(field -c .pcrs)"
call "$admin" POST /api/v1/policies '{"name":"dry","from_host":"good","dry_run":true}' 200
[ "$(field .dry_run)" = true ] && [ "$(field '.learned|length')" -gt 0 ] || fail "dry run: $body"
call "$admin" GET /api/v1/policies/dry 404
call "$admin" POST /api/v1/policies '{"from_host":"nosb","dry_run":true}' 409
[ "$(field .error.code)" = HOST_NOT_ATTESTED ] || fail "dry run of a red host: $body"
call "$viewer" POST /api/v1/policies '{"from_host":"good","dry_run":true}' 403
ok "evidence: $(jq '.events|length' <<<"$(api "$admin" GET /api/v1/hosts/nosb/evidence | sed '$d')") events, SecureBoot event $sbev diverging; dry run learns and stores nothing"

# --- the browser --------------------------------------------------------------
mkdir -p "$build/screenshots"
DASH_URL=$url DASH_ADMIN=$admin DASH_VIEWER=$viewer DASH_SIM="$bin/attest-sim" \
  DASH_GOOD_DIR=$good_dir DASH_SHOTS="$build/screenshots" DASH_CHROMIUM=$chromium \
  DASH_PROFILE="$work/chromium-profile" DASH_FLEETLIB="$here/tests/integration/fleetlib.sh" \
  DASH_DB="${ATTEST_TEST_DB:-$work/vd/verifier.db}" \
  node --test --test-reporter=spec "$here/tests/browser/dashboard.test.mjs" >"$work/node.out" 2>&1
rc=$?
cat "$work/node.out"
[ "$rc" = 0 ] || fail "browser test failed (node exit $rc)"
ls "$build/screenshots"/fleet.png "$build/screenshots"/host-red-security.png >/dev/null ||
  fail "screenshots missing"
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
! grep -q 'Sanitizer' "$work/ver.err" || fail "sanitizer report"
ok "browser: sign in, fleet, red host's reasons, alarms (admin/viewer), live update; screenshots in $build/screenshots"
echo "PASS"
