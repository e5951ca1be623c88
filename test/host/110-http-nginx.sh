#!/bin/bash
# lib/http (through test/http/httpget) against nginx on 127.0.0.1, over http and https with a
# throwaway CA: connection reuse (counted with nginx's $connection), chunked bodies (nginx's
# SSI filter streams them chunked), redirects (also http -> https), the auth header checked by
# a map and its rotation, 404/5xx/429 with Retry-After (seconds and HTTP-date), https through
# a CONNECT proxy; a certificate from an unknown CA, the system store (which does not hold
# the test CA) and a wrong host name are refused; a TLS handshake that stalls ends at the
# deadline.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http-lib.sh"
requires openssl
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
requires "$NGINX"

d=$TEST_DIR
mkdir -p "$d/root/secure" "$d/root/chunked" "$d/tmp"
head -c 400000 /dev/urandom >"$d/root/file"
head -c 300000 /dev/urandom | base64 >"$d/root/chunked/text" # no '<': nothing for SSI to do
cp "$d/root/file" "$d/root/secure/file"
sum=$(sha256sum "$d/root/file" | cut -d' ' -f1)
tsum=$(sha256sum "$d/root/chunked/text" | cut -d' ' -f1)

# ---- a throwaway CA, a server certificate for "localhost" only, and another CA ----
ossl() { openssl "$@" 2>>"$d/openssl.log" || { cat "$d/openssl.log" >&2; fail "openssl $1 failed"; }; }
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
ossl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.crt" -subj /CN=blazy-test-ca -days 2
ossl req -x509 "${ec[@]}" -keyout "$d/other.key" -out "$d/other.crt" -subj /CN=other-ca -days 2
ossl req "${ec[@]}" -keyout "$d/srv.key" -out "$d/srv.csr" -subj /CN=localhost
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext"
ossl x509 -req -in "$d/srv.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
	-out "$d/srv.crt" -days 2 -extfile "$d/ext"

# ---- nginx, in the foreground of a background job, on two free ports ----
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	fail "no free port"
}
H=$(free_port)
S=$(free_port)
[ "$H" != "$S" ] || S=$((H + 1))
cat >"$d/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 64; }
http {
	log_format conn '\$connection \$connection_requests \$status \$request_uri';
	access_log $d/access.log conn;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	keepalive_timeout 60;
	default_type application/octet-stream;
	map \$http_authorization \$auth_ok {
		default 0;
		"Bearer new-token" 1;
	}
	server {
		listen 127.0.0.1:$H;
		listen 127.0.0.1:$S ssl;
		ssl_certificate $d/srv.crt;
		ssl_certificate_key $d/srv.key;
		root $d/root;
		location /secure/ {
			if (\$auth_ok = 0) { return 401; }
		}
		location /chunked/ { ssi on; ssi_types *; }
		location = /redir { return 302 /file; }
		location = /to-https { return 301 https://localhost:$S/file; }
		location = /e500 { return 500; }
		location = /e503 { add_header Retry-After 7 always; return 503; }
		location = /e429 { add_header Retry-After "Fri, 01 Jan 2100 00:00:00 GMT" always; return 429; }
	}
}
CONF
"$NGINX" -t -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >/dev/null 2>&1 ||
	{ "$NGINX" -t -p "$d" -c "$d/nginx.conf" -e "$d/error.log"; fail "bad nginx config"; }
"$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
nginx_pid=$!
cleanup_fn kill "$nginx_pid"
for _ in $(seq 100); do
	"$HTTPGET" --timeout 500 "http://127.0.0.1:$H/file" >/dev/null 2>&1 && break
	kill -0 "$nginx_pid" 2>/dev/null || { cat "$d/error.log" >&2; fail "nginx did not start"; }
	sleep 0.1
done
h=http://127.0.0.1:$H
s=https://localhost:$S
ca=(--ca "$d/ca.crt")

# ---- http and https: whole bodies, one connection for many requests ----
for base in "$h" "$s"; do
	: >"$d/access.log"
	get "${ca[@]}" $base/file $base/file $base/chunked/text $base/file
	expect 1 rc=0 status=200 sha256=$sum connects=1
	expect 2 rc=0 reused=1 sha256=$sum
	expect 3 rc=0 reused=1 sha256=$tsum
	expect 4 rc=0 reused=1 sha256=$sum
	conns=$(cut -d' ' -f1 "$d/access.log" | sort -u | wc -l)
	reqs=$(wc -l <"$d/access.log")
	[ "$conns" = 1 ] && [ "$reqs" = 4 ] || fail "$base: $reqs requests over $conns connections, expected 4 over 1"
done
# the SSI location really is chunked: its responses carry no Content-Length
printf 'GET /chunked/text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$d/req"
exec 5<>"/dev/tcp/127.0.0.1/$H"
cat "$d/req" >&5
head -c 2000 <&5 | tr -d '\r' | sed '/^$/q' | grep -i '^transfer-encoding: chunked' >/dev/null ||
	fail "nginx did not answer chunked"
exec 5>&-

# ---- redirects (also from http to https), statuses ----
get "${ca[@]}" $h/redir $h/to-https $s/redir $h/missing $s/e500 $h/e503 $s/e429
expect 1 rc=0 redirects=1 sha256=$sum
expect 2 rc=0 redirects=1 sha256=$sum
expect 3 rc=0 redirects=1 sha256=$sum
expect 4 rc=ENOENT status=404 retryable=0
expect 5 rc=EAGAIN status=500 retryable=1
expect 6 rc=EAGAIN status=503 retry_after=7
expect 7 rc=EAGAIN status=429 retry_after=86400

# ---- the auth header, checked by nginx's map, rotated without a restart ----
echo "Bearer old-token" >"$d/auth"
get "${ca[@]}" --auth-file "$d/auth" $s/secure/file \
	--sh "echo 'Bearer new-token' >'$d/auth.new' && mv '$d/auth.new' '$d/auth'" $s/secure/file $h/secure/file
expect 1 rc=EACCES status=401
expect 2 rc=0 sha256=$sum reused=1
expect 3 rc=0 sha256=$sum
grep -q 'token' <<<"$OUT" && fail "a credential was printed"

# ---- https through a CONNECT proxy ----
start_fault proxy --root "$d/root" --proxy
get "${ca[@]}" --proxy http://127.0.0.1:$FAULT_PORT $s/file $s/file
expect 1 rc=0 sha256=$sum
expect 2 rc=0 reused=1
grep -q "CONNECT localhost:$S -> proxy" "$FAULT_LOG" || fail "the proxy saw no CONNECT"

# ---- the static client with no OpenSSL (nor anything else) installed: an empty chroot
# holding only httpget and the CA file ----
if [ "$(id -u)" = 0 ] && file -L "$HTTPGET" 2>/dev/null | grep 'statically linked' >/dev/null; then
	mkdir -p "$d/empty/bin" "$d/empty/tmp"
	cp "$HTTPGET" "$d/empty/bin/httpget"
	cp "$d/ca.crt" "$d/empty/tmp/ca.crt"
	HTTPGET_WRAP="chroot $d/empty" HTTPGET=/bin/httpget get --ca /tmp/ca.crt $s/file $s/chunked/text
	expect 1 rc=0 sha256=$sum
	expect 2 rc=0 sha256=$tsum reused=1
else
	echo "note: the empty-chroot check needs root and a static httpget; not run"
fi

# ---- refusals: unknown CA, system store, wrong host name (the certificate names only
# localhost), plain http to the TLS port, TLS to the plain port ----
get --ca "$d/other.crt" $s/file
expect 1 rc=EKEYREJECTED retryable=0
get $s/file
expect 1 rc=EKEYREJECTED
get "${ca[@]}" https://127.0.0.1:$S/file
expect 1 rc=EKEYREJECTED
grep -q 'mismatch' <<<"$OUT" || fail "no host name mismatch reported"
get "${ca[@]}" --timeout 3000 http://127.0.0.1:$S/file https://localhost:$H/file
expect 1 rc=EPROTO status=400 retryable=0
expect 2 rc=ECONNABORTED
get --ca "$d/missing.crt" $s/file
expect 1 rc=EINVAL

# ---- a TLS handshake with a server that never answers ends at the deadline ----
start_fault mute --root "$d/root"
get "${ca[@]}" --timeout 1000 https://localhost:$FAULT_PORT/file
expect 1 rc=ETIMEDOUT
elapsed_at_most 1 1600
echo ok
