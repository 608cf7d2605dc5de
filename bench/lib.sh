# Shared by the bench scripts: start a mediarepo stack and a static lighttpd
# on free loopback ports, and stop both (by PID) on exit.
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/mediarepo-bench.XXXXXX)
# Started as root, the programs run as an unprivileged user (README,
# "Security"), which must reach the stack inside.
chmod 755 "$work"
stack_pid=""
static_pid=""

bench_cleanup() {
	[ -n "$static_pid" ] && kill "$static_pid" 2>/dev/null
	[ -n "$stack_pid" ] && kill "$stack_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap bench_cleanup EXIT INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_stack [CONFIG_LINE...]: sets base, token, server_name, data_dir
# (in $work/$STACK_DIR, default "stack")
start_stack() {
	port=$(free_port)
	server_name="localhost:$port"
	data_dir=$work/${STACK_DIR:-stack}
	base=http://127.0.0.1:$port
	mkdir -p "$data_dir"
	"$top/tools/mediarepo-admin" init-config "$data_dir/mediarepo.conf" \
	    "$server_name"
	{ echo "xsendfile = x-sendfile"; printf '%s\n' "$@"; } \
	    >> "$data_dir/mediarepo.conf"
	DATA_DIR=$data_dir PORT=$port SERVER_NAME=$server_name PROCS=${PROCS:-4} \
	    "$top/tools/mediarepo-run" > "$data_dir.log" 2>&1 &
	stack_pid=$!
	for _ in $(seq 100); do
		token=$(sed -n 's/^token for [^ ]*: //p' "$data_dir.log")
		[ -n "$token" ] && curl -sf -o /dev/null "$base/_matrix/media/v3/config" \
		    -H "Authorization: Bearer $token" && return 0
		sleep 0.1
	done
	echo "stack did not start:" >&2
	cat "$data_dir.log" >&2
	exit 1
}

# start_static DIR: lighttpd serving DIR as plain files; sets static_base
start_static() {
	sport=$(free_port)
	cat > "$work/static.conf" <<CONF
server.document-root = "$1"
server.bind = "127.0.0.1"
server.port = $sport
server.errorlog = "$work/static-error.log"
server.pid-file = "$work/static.pid"
server.tag = "static"
CONF
	lighttpd -D -f "$work/static.conf" &
	static_pid=$!
	static_base=http://127.0.0.1:$sport
	for _ in $(seq 50); do
		curl -s -o /dev/null "$static_base/" && return 0
		sleep 0.1
	done
	echo "static lighttpd did not start" >&2
	exit 1
}

# upload FILE CONTENT_TYPE: prints the media id
upload() {
	curl -sf -X POST -H "Authorization: Bearer $token" -H "Content-Type: $2" \
	    --data-binary "@$1" "$base/_matrix/media/v3/upload" |
	    sed 's|.*mxc://[^/]*/\([A-Za-z0-9_-]*\).*|\1|'
}
