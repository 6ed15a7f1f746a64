#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smoke: runs each I/O example as its header describes, briefly, on both backends: the echo
# server under echo_load, the HTTP server under echo_load --http (plus malformed, oversized,
# chunked and smuggling requests, a slowloris client and a body that stops coming), a graceful
# stop by signal, and the file commands.
#
# Usage: smoke.sh ECHO_SERVER ECHO_LOAD HTTP_SERVER FILES
set -euo pipefail
echo_server=$1 echo_load=$2 http_server=$3 files=$4
tmp=$(mktemp -d)
pid=
cleanup() {
    [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "smoke: $*" >&2; exit 1; }

# Starts a server on a free port (--port 0) and sets $pid and $port from its first line.
start() {
    "$@" > "$tmp/server.out" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        grep -q "listening on" "$tmp/server.out" && break
        sleep 0.05
    done
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.out")
    [[ -n $port ]] || fail "no port from: $(cat "$tmp/server.out")"
}

# Sends $1 (printf format) on a new connection to the server, reads to its close, and checks
# the reply (on one line, CRs removed) matches the regular expression $2 and holds $4
# responses; $3 names the case.
exchange() {
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf "$1" >&3
    local reply
    reply=$(timeout 5 cat <&3 | tr -d '\r' | tr '\n' ' ' || true)
    exec 3<&-
    grep -Eq "$2" <<<"$reply" || fail "$3 got: $reply"
    [[ $(grep -o "HTTP/1.1 [0-9]" <<<"$reply" | wc -l) == "$4" ]] || fail "$3 got: $reply"
}

# Stops the server with signal $1 and checks it shut down gracefully.
stop() {
    kill "-$1" "$pid"
    local rc=0
    wait "$pid" || rc=$?
    pid=
    [[ $rc == 0 ]] || fail "server exited with $rc: $(cat "$tmp/server.out")"
    grep -q "shutting down" "$tmp/server.out" || fail "no graceful shutdown"
}

for backend in io_uring threaded; do
    start "$echo_server" --port 0 --backend "$backend" --threads 1
    out=$("$echo_load" --address "127.0.0.1:$port" --connections 4 --duration 1 --backend "$backend" --threads 1)
    echo "$backend echo: ${out%%$'\n'*}"
    grep -q "failed=0" <<<"$out" || fail "echo_load: $out"
    stop INT

    start "$http_server" --port 0 --backend "$backend" --threads 1 --idle-timeout-ms 300
    out=$("$echo_load" --address "127.0.0.1:$port" --http --connections 4 --duration 1 --backend "$backend" --threads 1)
    echo "$backend http: ${out%%$'\n'*}"
    grep -q "failed=0" <<<"$out" || fail "echo_load --http: $out"
    exchange 'NONSENSE\r\n\r\n' "400 Bad Request" "a malformed request" 1
    exchange "GET / HTTP/1.1\r\nHost: a\r\nX: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n" \
        "431 Request Header Fields Too Large" "a head over 8 KiB" 1
    exchange 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' \
        "404 Not Found.*200 OK" "a chunked POST and a GET after it" 2
    exchange 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nGET /x HTTP/1.1\r\n\r\n' \
        "^HTTP/1.1 400 Bad Request" "two Content-Lengths" 1
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nx' >&3  # and no more of the body
    timeout 5 cat <&3 >/dev/null || fail "a connection with a body that stopped coming was kept open"
    exec 3<&-
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET / HTTP/1.1\r\nHo' >&3  # and then nothing: the idle timeout closes it
    SECONDS=0
    timeout 5 cat <&3 >/dev/null || fail "a slowloris connection was kept open"
    exec 3<&-
    echo "$backend http: a slowloris connection was closed after about ${SECONDS} s"
    stop TERM

    printf 'one\ntwo\nthree\n' > "$tmp/a.txt"
    head -c 300000 /dev/urandom > "$tmp/b.bin"
    "$files" copy "$tmp/b.bin" "$tmp/c.bin" --backend "$backend" 2>/dev/null
    cmp "$tmp/b.bin" "$tmp/c.bin" || fail "copy differs"
    [[ $("$files" cat "$tmp/a.txt" "$tmp/a.txt" --backend "$backend") == $'one\ntwo\nthree\none\ntwo\nthree' ]] ||
        fail "cat"
    counted=$("$files" count "$tmp/a.txt" "$tmp/b.bin" --backend "$backend" | tail -1)
    [[ $counted == *" 300014  total" ]] || fail "count: $counted"
    if "$files" cat "$tmp/missing" --backend "$backend" 2>/dev/null; then fail "cat of a missing file"; fi
done
echo "smoke: every example ran as described"
