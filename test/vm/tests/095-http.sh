#!/bin/sh
# lib/http's static link runs where no OpenSSL is installed (the VM: busybox only): the test
# tools httpget (lib/http + libssl, static) and httpfault (test/http), passed with --extra,
# fetch a file over http on the VM's loopback; an https request without a system certificate
# store fails clearly; with a CA file the TLS handshake starts (libssl works with no
# openssl.cnf or provider files) and a server that never answers it ends at the deadline.
set -u
for t in httpget httpfault; do
	command -v $t >/dev/null 2>&1 || { echo "skip: requires $t (test/vm/run.sh --extra build/test/http/$t)"; exit 77; }
done
fails=0
check() { # DESCRIPTION COMMAND...
	what=$1
	shift
	if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }

for d in /usr/lib /lib /usr/lib64; do
	if ls "$d"/libssl.so* "$d"/*/libssl.so* >/dev/null 2>&1; then
		echo "note: a libssl is present under $d"
	fi
done
check "no OpenSSL configuration in the VM" test ! -e /usr/lib/ssl/openssl.cnf
check "no system certificate store in the VM" test ! -e /etc/ssl/certs

mkdir -p /tmp/http/root
head -c 200000 /dev/urandom >/tmp/http/root/file
sum=$(sha256sum /tmp/http/root/file | cut -d' ' -f1)
httpfault --root /tmp/http/root --port-file /tmp/http/port --lifetime 60 >/dev/null &
pid=$!
i=0
while [ ! -s /tmp/http/port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat /tmp/http/port)

out=$(httpget --timeout 5000 "http://127.0.0.1:$port/file" "http://localhost:$port/file" 2>&1)
echo "$out"
l1=$(printf '%s\n' "$out" | sed -n 1p)
l2=$(printf '%s\n' "$out" | sed -n 2p)
check "http GET by address" test "$(field rc "$l1")/$(field sha256 "$l1")" = "0/$sum"
check "http GET by localhost (no NSS)" test "$(field rc "$l2")/$(field sha256 "$l2")" = "0/$sum"

out=$(httpget --timeout 5000 "https://127.0.0.1:$port/file" 2>&1)
echo "$out"
check "https without a certificate store fails clearly" \
	test "$(field rc "$out")" = ENOENT
case $out in *"no system certificate store"*) check "the reason names the store" true ;;
*) check "the reason names the store" false ;; esac

cat >/tmp/http/ca.pem <<'PEM'
-----BEGIN CERTIFICATE-----
MIIBjTCCATOgAwIBAgIURDkV6/W0Id7yEZIRPgrU4khWPL4wCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQYmxhenktdm0tdGVzdC1jYTAgFw0yNjEyMDYwOTU0MjlaGA8y
MTI2MTExMjA5NTQyOVowGzEZMBcGA1UEAwwQYmxhenktdm0tdGVzdC1jYTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABPiC9Z3n4EHMWWpetV36w5po5pji19tH3r7G
Ga1akcaxSYXIlXYmdn7+IdsWDI19VENnYFHpQq9k3Ob3wVgINpqjUzBRMB0GA1Ud
DgQWBBQkQbOwrarqhumcyCy0La1o9RcnJjAfBgNVHSMEGDAWgBQkQbOwrarqhumc
yCy0La1o9RcnJjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIE5S
XmdjaXRzcXRXsIVYdcprZbNvr51PvPonoCeTsIoUAiEAko40IdEjWbaB9f5nB0lO
XxMnKyEBh7g03vTQwIs4GaY=
-----END CERTIFICATE-----
PEM
out=$(httpget --ca /tmp/http/ca.pem --timeout 2000 "https://localhost:$port/file" 2>&1)
echo "$out"
ms=$(field ms "$out")
check "a TLS handshake nobody answers ends at the deadline" test "$(field rc "$out")" = ETIMEDOUT
check "... within 2 s + 1 s" test "${ms:-99999}" -le 3000
case $out in *"TLS handshake"*) check "... in the handshake" true ;;
*) check "... in the handshake" false ;; esac

kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ "$fails" -eq 0 ] || exit 1
echo "all ok"
