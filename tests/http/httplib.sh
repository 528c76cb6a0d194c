# httplib.sh - shared by the http tests (bash), on top of tests/lib.sh: a
# private nginx on a free loopback port serving $T/www (more instances,
# from other configurations, with nginx_up).
# Sourcing scripts get T, WWW, PORT and BASE (http://127.0.0.1:PORT).

. "$top_srcdir/tests/lib.sh"
WWW=$T/www
NGINX_PIDS=
CLEANUP_PIDS=
# Stop nginx and whatever helpers a test started (a proxy) before $T goes.
on_exit 'for p in $CLEANUP_PIDS $NGINX_PIDS; do kill $p; done; for p in $CLEANUP_PIDS $NGINX_PIDS; do wait $p; done'

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

# fill_conf CONF.IN DIR: CONF.IN with the placeholders filled, @DIR@
# being DIR.
fill_conf() {
	sed -e "s|@DIR@|$2|g" -e "s|@PORT@|$NPORT|g" \
	    -e "s|@TLSPORT@|$((NPORT + 1))|g" -e "s|@WWW@|$WWW|g" \
	    -e "s|@USER@|$user|g" "$1"
}

# nginx_up NAME CONF.IN [PORT]: start a private nginx from CONF.IN, its
# files in $T/NAME (@DIR@), listening on PORT or on a free loopback port
# (@PORT@; @TLSPORT@ is the port after it, for servers a test adds in
# $T/extra.conf.in, filled in as $T/NAME/extra.conf).  A port can be taken
# between the choice and the bind, so a failed start is retried on other
# ports (not on a PORT given).  Sets NPORT and NPID; nginx_down NAME stops
# it, the end of the test too.
nginx_up() {
	local name=$1 conf=$2 want=${3:-} dir=$T/$1 try user=
	find_nginx || skip "nginx is not installed"
	[ -e "$T/extra.conf.in" ] || : >"$T/extra.conf.in"
	mkdir -p "$WWW" "$dir/tmp"
	# nginx refuses to drop to the default "nobody" account as root and
	# the tests' files are the caller's anyway.
	[ "$(id -u)" = 0 ] && user="user root;"
	for try in 1 2 3 4 5 6 7 8 9 10; do
		NPORT=${want:-$((20000 + (RANDOM * 32768 + RANDOM) % 40000))}
		fill_conf "$conf" "$dir" >"$dir/nginx.conf"
		fill_conf "$T/extra.conf.in" "$dir" >"$dir/extra.conf"
		rm -f "$dir/nginx.pid"
		"$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
			>"$dir/stdout" 2>&1 &
		NPID=$!
		# nginx writes its pid file once it listens.
		for _ in $(seq 50); do
			[ -s "$dir/nginx.pid" ] && break
			kill -0 "$NPID" 2>/dev/null || break
			sleep 0.1
		done
		if [ -s "$dir/nginx.pid" ] && kill -0 "$NPID" 2>/dev/null; then
			NGINX_PIDS="$NGINX_PIDS $NPID"
			echo "$NPID" >"$dir/launched.pid"
			return 0
		fi
		kill "$NPID" 2>/dev/null
		wait "$NPID" 2>/dev/null
		[ -n "$want" ] && break
	done
	cat "$dir/error.log" "$dir/stdout" >&2 2>/dev/null
	fail "nginx ($name) did not start"
}

# nginx_down NAME: stop the nginx nginx_up NAME started (a fast shutdown,
# which closes its connections) and wait for it to end.
nginx_down() {
	local pid
	pid=$(cat "$T/$1/launched.pid") || fail "nginx_down $1: not started"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	NGINX_PIDS=$(echo " $NGINX_PIDS " | sed "s/ $pid / /")
	rm -f "$T/$1/launched.pid"
}

# start_nginx: serve $WWW from 127.0.0.1 on a free port (nginx.conf.in,
# files in $T/nginx); sets PORT, BASE and TLSPORT.
start_nginx() {
	nginx_up nginx "$top_srcdir/tests/http/nginx.conf.in"
	PORT=$NPORT
	TLSPORT=$((PORT + 1))
	BASE=http://127.0.0.1:$PORT
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

