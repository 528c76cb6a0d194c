# httplib.sh - shared by the http tests (bash), on top of tests/lib.sh: a
# private nginx on a free loopback port serving $T/www.
# Sourcing scripts get T, WWW, PORT and BASE (http://127.0.0.1:PORT).

. "$top_srcdir/tests/lib.sh"
WWW=$T/www
NGINX_PID=
CLEANUP_PIDS=
# Stop nginx and whatever helpers a test started (a proxy) before $T goes.
on_exit 'for p in $CLEANUP_PIDS $NGINX_PID; do kill $p; done; for p in $CLEANUP_PIDS $NGINX_PID; do wait $p; done'

# nginx often lives in sbin directories that are not on a user's PATH.
find_nginx() {
	local c
	for c in "$(command -v nginx 2>/dev/null)" /usr/sbin/nginx \
		 /usr/local/sbin/nginx /usr/local/nginx/sbin/nginx; do
		if [ -n "$c" ] && [ -x "$c" ]; then
			NGINX=$c
			return 0
		fi
	done
	return 1
}

fill_conf() {
	sed -e "s|@DIR@|$T/nginx|g" -e "s|@PORT@|$PORT|g" \
	    -e "s|@TLSPORT@|$TLSPORT|g" -e "s|@WWW@|$WWW|g" \
	    -e "s|@USER@|$user|g" "$1"
}

# start_nginx: serve $WWW from 127.0.0.1 on a free port; sets PORT, BASE
# (and TLSPORT for servers a test adds in $T/extra.conf.in).  A port can be
# taken between the choice and the bind, so a failed start is retried on
# other ports.
start_nginx() {
	local try user=
	[ -e "$T/extra.conf.in" ] || : >"$T/extra.conf.in"
	find_nginx || skip "nginx is not installed"
	mkdir -p "$WWW" "$T/nginx/tmp"
	# nginx refuses to drop to the default "nobody" account as root and
	# the tests' files are the caller's anyway.
	[ "$(id -u)" = 0 ] && user="user root;"
	for try in 1 2 3 4 5 6 7 8 9 10; do
		PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		TLSPORT=$((PORT + 1))
		fill_conf "$top_srcdir/tests/http/nginx.conf.in" \
			>"$T/nginx/nginx.conf"
		fill_conf "$T/extra.conf.in" >"$T/nginx/extra.conf"
		rm -f "$T/nginx/nginx.pid"
		"$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" \
			-e "$T/nginx/error.log" >"$T/nginx/stdout" 2>&1 &
		NGINX_PID=$!
		# nginx writes its pid file once it listens.
		for _ in $(seq 50); do
			[ -s "$T/nginx/nginx.pid" ] && break
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.1
		done
		if [ -s "$T/nginx/nginx.pid" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
			BASE=http://127.0.0.1:$PORT
			return 0
		fi
		kill "$NGINX_PID" 2>/dev/null
		wait "$NGINX_PID" 2>/dev/null
		NGINX_PID=
	done
	cat "$T/nginx/error.log" "$T/nginx/stdout" >&2 2>/dev/null
	fail "nginx did not start"
}

# start_proxy NAME ARGS...: tests/http/faultproxy.py in front of nginx
# with ARGS; sets PROXY (its base URL); stats in $T/NAME.stats
start_proxy() {
	local name=$1
	shift
	python3 "$top_srcdir/tests/http/faultproxy.py" --target "$PORT" \
		--port-file "$T/$name.port" --stats "$T/$name.stats" \
		--lifetime 300 "$@" &
	CLEANUP_PIDS="$CLEANUP_PIDS $!"
	for _ in $(seq 100); do
		[ -s "$T/$name.port" ] && break
		sleep 0.1
	done
	[ -s "$T/$name.port" ] || fail "faultproxy did not start"
	PROXY=http://127.0.0.1:$(cat "$T/$name.port")
}

# mkraw FILE MIB: a disk with random, text-like (compressible), patterned
# and zero regions, so compressed images hold both kinds of cluster.
mkraw() {
	local f=$1 mib=$2
	truncate -s "${mib}M" "$f" || fail "truncate $f"
	dd if=/dev/urandom of="$f" bs=1M seek=1 count=3 conv=notrunc status=none
	head -c $((3 << 20)) /dev/urandom | base64 |
		dd of="$f" bs=1M seek=6 conv=notrunc status=none
	dd if=/dev/urandom of="$f" bs=1M seek=$((mib - 12)) count=9 \
		conv=notrunc status=none
	printf 'tail' | dd of="$f" bs=1 seek=$(((mib << 20) - 4)) \
		conv=notrunc status=none
}

