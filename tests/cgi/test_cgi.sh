#!/bin/sh
# Runs every endpoint program as plain CGI, with no web server: each one
# handles the request described by its environment and exits (DESIGN.md
# "Request flow"). Called by `make cgi-test`; prints one line per check
# and "N passed, M failed" at the end, exit status 1 if any failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
admin="$top/tools/mediarepo-admin"
bin="$top/cgi-bin"
server="localhost:8448"
LC_ALL=C
export LC_ALL

dir=$(mktemp -d "${TMPDIR:-/tmp}/mediarepo-cgi.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM HUP

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }

conf="$dir/mediarepo.conf"
if ! "$admin" init-config "$conf" "$server" > "$dir/admin.out" 2>&1; then
	fail "init-config" "$(cat "$dir/admin.out")"
	echo "$passed passed, $failed failed"
	exit 1
fi
token=$(MEDIAREPO_CONFIG=$conf "$admin" create-token "@alice:$server" 2> "$dir/admin.err")
guest=$(MEDIAREPO_CONFIG=$conf "$admin" create-token "@guest:$server" --guest 2>> "$dir/admin.err")
case $token in
mr_*) ok "create-token" ;;
*) fail "create-token" "$(cat "$dir/admin.err")" ;;
esac

# cgi NAME METHOD URI [VAR=VALUE...]: runs cgi-bin/NAME.fcgi in a clean
# environment; stdin is $dir/stdin (empty unless a check wrote a body),
# stdout goes to $dir/out, stderr to $dir/err.
cgi() {
	prog=$1 method=$2 uri=$3
	shift 3
	[ -e "$dir/stdin" ] || : > "$dir/stdin"
	env -i PATH="$PATH" MEDIAREPO_CONFIG="$conf" GATEWAY_INTERFACE=CGI/1.1 \
	    SERVER_PROTOCOL=HTTP/1.1 REQUEST_METHOD="$method" \
	    REQUEST_URI="$uri" "$@" "$bin/$prog.fcgi" \
	    < "$dir/stdin" > "$dir/out" 2> "$dir/err"
	rc=$?
	rm -f "$dir/stdin"
	return $rc
}

status() { # the code of the Status: line of $dir/out
	sed -n '1s/^Status: \([0-9][0-9]*\).*/\1/p' "$dir/out"
}

header() { # value of header $1 (first match, case-insensitive)
	awk -v h="$1" 'BEGIN { h = tolower(h) ": " }
	    $0 == "\r" { exit }
	    index(tolower($0), h) == 1 { sub(/\r$/, ""); print substr($0, length(h) + 1); exit }' \
	    "$dir/out"
}

body() { # everything after the blank line that ends the headers
	n=$(awk '{ n += length($0) + 1 } $0 == "\r" { print n; exit }' "$dir/out")
	if [ -z "$n" ]; then
		return 1
	fi
	tail -c +"$((n + 1))" "$dir/out"
}

same() { # name, got, want
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1" "got '$2', expected '$3'"
	fi
}

expect() { # name, expected status, [string the body must contain]
	name=$1 want=$2 needle=${3:-}
	got=$(status)
	if [ "$got" != "$want" ]; then
		fail "$name" "status '$got', expected $want; $(head -c 300 "$dir/out") $(head -c 300 "$dir/err")"
		return 1
	fi
	if [ -n "$needle" ] && ! body | grep -qF -- "$needle"; then
		fail "$name" "body lacks '$needle': $(body | head -c 300)"
		return 1
	fi
	ok "$name"
}

auth="HTTP_AUTHORIZATION=Bearer $token"

# --- config ---
cgi config GET /_matrix/media/v3/config "$auth"
expect "config: 200 with m.upload.size" 200 '"m.upload.size":52428800'
if grep -q "GET /_matrix/media/v3/config 200" "$dir/err"; then
	ok "config: one log line on stderr"
else
	fail "config: one log line on stderr" "$(cat "$dir/err")"
fi
if grep -qF "$token" "$dir/err"; then
	fail "config: token kept out of the log"
else
	ok "config: token kept out of the log"
fi
cgi config GET /_matrix/client/v1/media/config "$auth"
expect "config: v1 prefix" 200 '"m.upload.size":52428800'
cgi config GET /_matrix/media/v3/config
expect "config: missing token is 401" 401 '"M_MISSING_TOKEN"'
cgi config GET /_matrix/media/v3/config "HTTP_AUTHORIZATION=Bearer mr_nope"
expect "config: unknown token is 401" 401 '"M_UNKNOWN_TOKEN"'
cgi config GET /_matrix/media/v3/config "HTTP_AUTHORIZATION=Bearer $guest"
expect "config: guest is 403" 403 '"M_GUEST_ACCESS_FORBIDDEN"'
cgi config PUT /_matrix/media/v3/config "$auth"
expect "config: wrong method is 405" 405 '"M_UNRECOGNIZED"'
cgi config OPTIONS /_matrix/media/v3/config
if expect "config: OPTIONS is 204" 204; then
	same "config: OPTIONS has CORS" \
	    "$(header Access-Control-Allow-Origin)" "*"
fi

# --- upload ---
printf 'hello\r\n\000\001\377 cgi world\n' > "$dir/payload"
size=$(wc -c < "$dir/payload" | tr -d ' ')
cp "$dir/payload" "$dir/stdin"
cgi upload POST '/_matrix/media/v3/upload?filename=hello.txt' "$auth" \
    CONTENT_LENGTH="$size" CONTENT_TYPE=text/plain
expect "upload: 200 with content_uri" 200 "\"content_uri\":\"mxc://$server/"
media_id=$(body | sed -n 's|.*"mxc://[^/]*/\([A-Za-z0-9_-]*\)".*|\1|p')
if [ -n "$media_id" ]; then
	ok "upload: media id $media_id"
else
	fail "upload: media id" "$(body)"
	media_id=missing
fi
cp "$dir/payload" "$dir/stdin"
cgi upload POST /_matrix/media/v3/upload CONTENT_LENGTH="$size"
expect "upload: missing token is 401" 401 '"M_MISSING_TOKEN"'
printf 'x' > "$dir/stdin"
cgi upload POST /_matrix/media/v3/upload "$auth" CONTENT_LENGTH=1 \
    "CONTENT_TYPE=$(printf 'text/plain\001')"
expect "upload: control character in Content-Type is 400" 400 '"errcode"'
cgi upload POST /_matrix/media/v3/upload "$auth" CONTENT_LENGTH=abc
expect "upload: bad CONTENT_LENGTH is 400" 400 '"errcode"'

# --- download ---
cgi download GET "/_matrix/media/v3/download/$server/$media_id"
if expect "download: 200" 200; then
	if body | cmp -s - "$dir/payload"; then
		ok "download: exact bytes after the blank line"
	else
		fail "download: exact bytes after the blank line" \
		    "$(body | od -c | head -5)"
	fi
	same "download: Content-Type" "$(header Content-Type)" "text/plain"
	same "download: Content-Disposition" "$(header Content-Disposition)" \
	    'inline; filename="hello.txt"'
	same "download: Content-Length" "$(header Content-Length)" "$size"
fi
cgi download HEAD "/_matrix/media/v3/download/$server/$media_id"
if expect "download: HEAD 200" 200; then
	same "download: HEAD has no body" "$(body | wc -c | tr -d ' ')" 0
fi
cgi download GET "/_matrix/media/v3/download/$server/$media_id" HTTP_RANGE=bytes=0-4
if expect "download: Range is 206" 206; then
	same "download: Range bytes" "$(body)" "hello"
fi
cgi download GET "/_matrix/client/v1/media/download/$server/$media_id/other.txt" "$auth"
if expect "download: v1 with token and file name" 200; then
	same "download: path file name" "$(header Content-Disposition)" \
	    'inline; filename="other.txt"'
fi
cgi download GET "/_matrix/client/v1/media/download/$server/$media_id"
expect "download: v1 without token is 401" 401 '"M_MISSING_TOKEN"'
cgi download GET "/_matrix/media/v3/download/$server/..%2F..%2Fetc%2Fpasswd"
expect "download: bad media id is 400" 400 '"M_INVALID_PARAM"'
cgi download GET "/_matrix/media/v3/download/$server/NoSuchMediaId"
expect "download: unknown media is 404" 404 '"M_NOT_FOUND"'
cgi download GET "/_matrix/media/v3/download/$server/$media_id?timeout_ms=abc"
expect "download: bad timeout_ms is 400" 400 '"M_INVALID_PARAM"'

# --- create ---
cgi create POST /_matrix/media/v1/create "$auth" CONTENT_LENGTH=0
expect "create: 200 with content_uri" 200 "\"content_uri\":\"mxc://$server/"
cgi create POST /_matrix/media/v1/create
expect "create: missing token is 401" 401 '"M_MISSING_TOKEN"'

# --- thumbnail ---
# A 2x2 PNG: the upload pre-generates nothing (it fits every box), and
# the thumbnail of a box larger than the image is the image itself.
printf '\211PNG\r\n\032\n\000\000\000\rIHDR\000\000\000\002\000\000\000\002\010\002\000\000\000\375\324\232s\000\000\000\026IDATx\234c\370\317\300\360\237\201\201\341?\003\003\003\000\032\370\003\375\325\307\223\220\000\000\000\000IEND\256B`\202' > "$dir/png"
cp "$dir/png" "$dir/stdin"
cgi upload POST /_matrix/media/v3/upload "$auth" \
    CONTENT_LENGTH="$(wc -c < "$dir/png" | tr -d ' ')" CONTENT_TYPE=image/png
png_id=$(body | sed -n 's|.*"mxc://[^/]*/\([A-Za-z0-9_-]*\)".*|\1|p')
cgi thumbnail GET "/_matrix/media/v3/thumbnail/$server/$png_id?width=32&height=32"
if expect "thumbnail: 200" 200; then
	same "thumbnail: Content-Type" "$(header Content-Type)" "image/png"
	if body | cmp -s - "$dir/png"; then
		ok "thumbnail: a small original is served as it is"
	else
		fail "thumbnail: a small original is served as it is"
	fi
fi
cgi thumbnail GET "/_matrix/media/v3/thumbnail/$server/$media_id?width=32&height=32"
expect "thumbnail: text is 400" 400 '"M_UNKNOWN"'
cgi thumbnail GET "/_matrix/media/v3/thumbnail/$server/$png_id?width=0&height=32"
expect "thumbnail: zero width is 400" 400 '"M_INVALID_PARAM"'

# --- keys, federation, previews ---
MEDIAREPO_CONFIG=$conf "$admin" generate-key > "$dir/key.out" 2>&1
cgi keys GET /_matrix/key/v2/server
expect "keys: 200 with verify_keys" 200 '"verify_keys"'
cgi federation_download GET "/_matrix/federation/v1/media/download/$media_id"
expect "federation_download: no X-Matrix is 401" 401 '"M_UNAUTHORIZED"'
cgi federation_thumbnail GET \
    "/_matrix/federation/v1/media/thumbnail/$png_id?width=32&height=32"
expect "federation_thumbnail: no X-Matrix is 401" 401 '"M_UNAUTHORIZED"'
cgi preview_url GET "/_matrix/media/v3/preview_url?url=http%3A%2F%2Fexample.org%2F" "$auth"
expect "preview_url: off by default is 404" 404 '"M_UNRECOGNIZED"'

# --- unrecognized ---
cgi unrecognized GET /_matrix/media/v3/nonsense "$auth"
expect "unrecognized: 404 M_UNRECOGNIZED" 404 '"M_UNRECOGNIZED"'
cgi unrecognized POST /_matrix/client/v1/media/upload "$auth"
expect "unrecognized: v1 upload is 404" 404 '"M_UNRECOGNIZED"'
cgi unrecognized OPTIONS /_matrix/media/v3/nonsense
expect "unrecognized: OPTIONS is 204" 204

# --- not a request at all ---
env -i PATH="$PATH" MEDIAREPO_CONFIG="$conf" "$bin/config.fcgi" \
    < /dev/null > "$dir/out" 2> "$dir/err"
expect "config: no REQUEST_METHOD is 400" 400 '"errcode"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
