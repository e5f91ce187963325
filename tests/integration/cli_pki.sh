#!/usr/bin/env bash
# `wavemill pki init|issue`: the CA and identity folders on disk (modes,
# content checked with the openssl tool), and every refusal exits non-zero
# with one line on stderr and writes nothing.  Needs no stack.
set -u
cd "$(dirname "$0")/../.."
. tests/support/cli_lib.sh # WAVEMILL, ok/no/$fails; no database here
TMP=$(mktemp -d /tmp/wm_cli_pki.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
D=$TMP/pki

# check NAME EXPECTED_RC PATTERN STREAM(out|err) -- cmd...; errors must be one line
check() {
    local name=$1 want_rc=$2 pattern=$3 stream=$4; shift 5
    timeout 60 "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ "$rc" -ne "$want_rc" ]; then
        no "$name: exit $rc, wanted $want_rc; stdout: $(cat "$TMP/out"); stderr: $(cat "$TMP/err")"
    elif ! grep -Eq -- "$pattern" "$TMP/$stream"; then
        no "$name: $stream does not match /$pattern/: $(cat "$TMP/$stream")"
    elif [ "$rc" -ne 0 ] && [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
        no "$name: error is not one line: $(cat "$TMP/err")"
    else
        ok "$name"
    fi
}
mode() { stat -c %a "$1" 2>/dev/null; }
same() { # NAME ACTUAL EXPECTED
    [ "$2" = "$3" ] && ok "$1" || no "$1: got '$2', wanted '$3'"
}

[ -x "$WAVEMILL" ] || { echo "FAIL - $WAVEMILL not built"; exit 1; }

check "init creates the CA" 0 "created the factory CA in $D" out -- "$WAVEMILL" pki init --dir "$D"
same "ca.key is 0600" "$(mode "$D/ca.key")" 600
openssl x509 -in "$D/ca.crt" -noout -text 2>/dev/null | grep -q "CA:TRUE" &&
    ok "ca.crt is a CA certificate" || no "ca.crt lacks CA:TRUE"
sum=$(sha256sum "$D/ca.key")
check "init refuses to overwrite" 1 "already exists" err -- "$WAVEMILL" pki init --dir "$D"
same "ca.key untouched" "$(sha256sum "$D/ca.key")" "$sum"

check "issue an agent" 0 "issued a1 \\(role agent\\)" out -- \
    "$WAVEMILL" pki issue --dir "$D" --name a1 --role agent
same "identity folder is 0700" "$(mode "$D/a1")" 700
same "key.pem is 0600" "$(mode "$D/a1/key.pem")" 600
cmp -s "$D/ca.crt" "$D/a1/ca.crt" && ok "folder holds the CA certificate" || no "a1/ca.crt differs"
for purpose in sslclient sslserver; do
    openssl verify -CAfile "$D/ca.crt" -purpose "$purpose" "$D/a1/cert.pem" >/dev/null 2>&1 &&
        ok "openssl verifies a1 for $purpose" || no "openssl does not verify a1 for $purpose"
done
subject=$(openssl x509 -in "$D/a1/cert.pem" -noout -subject -nameopt sep_multiline 2>/dev/null)
echo "$subject" | grep -q "OU=agent" && echo "$subject" | grep -q "CN=a1" &&
    ok "subject carries OU=agent, CN=a1" || no "subject: $subject"
openssl x509 -in "$D/a1/cert.pem" -noout -ext subjectAltName 2>/dev/null |
    grep -q "DNS:a1, IP Address:127.0.0.1" && ok "default SANs" || no "default SANs missing"

check "--json issue with SANs and days" 0 '^\{"ok":true,"command":"pki issue".*"role":"receiver"\}$' out -- \
    "$WAVEMILL" --json pki issue --dir "$D" --name r1 --role receiver --days 30 --san r1.example,10.0.0.9
openssl x509 -in "$D/r1/cert.pem" -noout -ext subjectAltName 2>/dev/null |
    grep -q "DNS:r1.example, IP Address:10.0.0.9" && ok "custom SANs" || no "custom SANs missing"

check "bad role" 1 'bad role "boss"' err -- "$WAVEMILL" pki issue --dir "$D" --name x1 --role boss
[ ! -e "$D/x1" ] && ok "bad role wrote nothing" || no "bad role left $D/x1"
check "name escaping the dir" 1 'bad name "\.\./evil"' err -- \
    "$WAVEMILL" pki issue --dir "$D" --name ../evil --role agent
[ ! -e "$TMP/evil" ] && ok "bad name wrote nothing" || no "bad name left $TMP/evil"
check "bad SAN" 1 'bad --san entry' err -- \
    "$WAVEMILL" pki issue --dir "$D" --name x2 --role agent --san "a b"
[ ! -e "$D/x2" ] && ok "bad SAN wrote nothing" || no "bad SAN left $D/x2"
check "missing CA" 1 "no CA in $TMP/none" err -- \
    "$WAVEMILL" pki issue --dir "$TMP/none" --name a1 --role agent
[ ! -e "$TMP/none" ] && ok "missing CA wrote nothing" || no "missing CA created $TMP/none"
sum=$(sha256sum "$D/a1/cert.pem")
check "reissue refused" 1 "already issued" err -- "$WAVEMILL" pki issue --dir "$D" --name a1 --role agent
same "existing identity untouched" "$(sha256sum "$D/a1/cert.pem")" "$sum"
check "missing --role is a usage error" 2 "--role" err -- "$WAVEMILL" pki issue --dir "$D" --name a2
check "--days 0 is a usage error" 2 "--days" err -- \
    "$WAVEMILL" pki issue --dir "$D" --name a2 --role agent --days 0
check "unknown subcommand" 2 "unknown subcommand 'renew'" err -- "$WAVEMILL" pki renew --dir "$D"
[ ! -e "$D/a2" ] && ok "usage errors wrote nothing" || no "usage error left $D/a2"

# one identity per source: an agent bound to its server and volumes, short-lived
check "bound agent issued" 0 "issued web1" out -- \
    "$WAVEMILL" pki issue --dir "$D" --name web1 --role agent --server web1 --volume web1-disk0 --volume web1-disk1
openssl x509 -in "$D/web1/cert.pem" -noout -ext subjectAltName 2>/dev/null |
    grep -q "URI:urn:wavemill:server:web1, URI:urn:wavemill:volume:web1-disk0, URI:urn:wavemill:volume:web1-disk1" &&
    ok "server and volumes in the certificate" || no "binding missing from the SANs"
openssl x509 -in "$D/web1/cert.pem" -noout -checkend $((29 * 86400)) >/dev/null &&
    no "bound agent certificate outlives 4 weeks" || ok "bound agent certificate expires within 4 weeks"
check "only agents are bound" 1 "only agent certificates" err -- \
    "$WAVEMILL" pki issue --dir "$D" --name r9 --role receiver --server web1
check "bad volume name" 1 "bad server or volume name" err -- \
    "$WAVEMILL" pki issue --dir "$D" --name w9 --role agent --server web9 --volume ../x

# revocation: a CRL signed by the CA, copied into every identity folder
check "revoke" 0 "revoked web1" out -- "$WAVEMILL" pki revoke --dir "$D" --name web1
serial=$(openssl x509 -in "$D/web1/cert.pem" -noout -serial | cut -d= -f2)
openssl crl -in "$D/crl.pem" -noout -text 2>/dev/null | grep -q "Serial Number: $serial" &&
    ok "the CRL lists the revoked serial" || no "serial $serial not in $D/crl.pem"
openssl crl -in "$D/crl.pem" -CAfile "$D/ca.crt" -noout 2>&1 | grep -q "verify OK" &&
    ok "the CRL is signed by the CA" || no "CRL signature"
cmp -s "$D/crl.pem" "$D/r1/crl.pem" && ok "CRL copied into identity folders" || no "r1 has no copy of the CRL"
openssl verify -crl_check -CAfile "$D/ca.crt" -CRLfile "$D/crl.pem" "$D/web1/cert.pem" 2>&1 |
    grep -q "revoked" && ok "openssl agrees web1 is revoked" || no "openssl does not see web1 revoked"
openssl verify -crl_check -CAfile "$D/ca.crt" -CRLfile "$D/crl.pem" "$D/r1/cert.pem" >/dev/null 2>&1 &&
    ok "others stay valid" || no "r1 fails verification after revoking web1"
check "revoking twice is fine" 0 "revoked web1" out -- "$WAVEMILL" pki revoke --dir "$D" --name web1
check "revoke unknown" 1 "no certificate" err -- "$WAVEMILL" pki revoke --dir "$D" --name nobody

[ "$fails" -eq 0 ] && echo "all ok" || echo "$fails failed"
exit $((fails > 0))
