#!/usr/bin/env bash
# Starts, stops or reports on the local ClickHouse server (Debian's clickhouse-server 18.16) without systemd.
#
#   scripts/clickhouse.sh start    start as user clickhouse; returns once http://127.0.0.1:8123/ping answers
#   scripts/clickhouse.sh stop     SIGTERM the server; returns once the process is gone and the ports are closed
#   scripts/clickhouse.sh status   exit 0 when it answers (HTTP ping and native TCP on 127.0.0.1:9000), else 3
#
# Tests stop and start it to watch readiness turn not-ready and back, so both commands wait.
# start and stop need root (or the clickhouse user); status works for anyone.
set -euo pipefail

CONFIG=${CLICKHOUSE_CONFIG:-/etc/clickhouse-server/config.xml}
PIDFILE=${CLICKHOUSE_PIDFILE:-/var/lib/clickhouse/clickhouse-server.pid}
LOGDIR=${CLICKHOUSE_LOGDIR:-/var/log/clickhouse-server}
HOST=127.0.0.1
HTTP_PORT=8123
NATIVE_PORT=9000
BIN=/usr/sbin/clickhouse-server
RUN_USER=clickhouse
START_TIMEOUT=${CLICKHOUSE_START_TIMEOUT:-30} # seconds
STOP_TIMEOUT=${CLICKHOUSE_STOP_TIMEOUT:-30}   # seconds, then SIGKILL

log() { printf 'clickhouse: %s\n' "$*"; }
die() { printf 'clickhouse: error: %s\n' "$*" >&2; exit 1; }

# ping succeeds when the HTTP interface answers "Ok.".
ping() {
	local body
	if command -v curl >/dev/null 2>&1; then
		body=$(curl -sf --max-time 2 "http://$HOST:$HTTP_PORT/ping" 2>/dev/null) || return 1
	else
		body=$(timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$HTTP_PORT && printf 'GET /ping HTTP/1.0\r\n\r\n' >&3 && cat <&3" 2>/dev/null | tail -n 1) || return 1
	fi
	[[ $body == Ok.* ]]
}

# native_ok succeeds when the native protocol answers on 127.0.0.1:9000, which is what clickhouse-go dials.
# (A bare TCP connect would do, but the server logs "Client has not sent any data" for each one.)
native_ok() {
	if command -v clickhouse-client >/dev/null 2>&1; then
		[[ $(timeout 5 clickhouse-client --host "$HOST" --port "$NATIVE_PORT" --query 'SELECT 1' 2>/dev/null) == 1 ]]
	else
		# A LISTEN (0A) socket on 127.0.0.1 (0100007F) or 0.0.0.0 at port 9000 (hex 2328).
		grep -qE "^ *[0-9]+: (0100007F|00000000):$(printf '%04X' "$NATIVE_PORT") 00000000:0000 0A" /proc/net/tcp
	fi
}

# alive succeeds when pid is a running (not zombie) clickhouse-server process.
alive() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $stat == *"(clickhouse-serv)"* ]] || return 1 # comm is truncated to 15 characters
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# server_pid prints the pid from the pid file when that process is alive.
server_pid() {
	local pid
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	alive "$pid" || return 1
	printf '%s\n' "$pid"
}

privileged() { [[ $(id -u) -eq 0 || $(id -un) == "$RUN_USER" ]]; }

show_logs() {
	local f
	for f in "$LOGDIR/stderr.log" "$LOGDIR/clickhouse-server.err.log" "$LOGDIR/clickhouse-server.log"; do
		[[ -s $f ]] || continue
		echo "---- tail $f" >&2
		tail -n 30 "$f" >&2 || true
	done
}

cmd_start() {
	local pid i
	if ping; then
		log "already running (pid $(server_pid || echo '?'))"
		return 0
	fi
	[[ -x $BIN ]] || die "$BIN not installed: run scripts/setup.sh (as root)"
	privileged || die "not running, and starting it needs root (or user $RUN_USER): run scripts/setup.sh as root"

	if pid=$(server_pid); then
		log "pid $pid is up but not answering yet; waiting"
	else
		# The daemon refuses to start while its pid file exists ("Pid file exists, should not start daemon"),
		# and a crash or kill -9 leaves it behind.
		rm -f "$PIDFILE"
		# --daemon redirects stderr into the log dir: without the dir it exits 0 and nothing runs.
		mkdir -p "$LOGDIR"
		if [[ $(id -u) -eq 0 ]]; then
			chown "$RUN_USER:$RUN_USER" "$LOGDIR"
			runuser -u "$RUN_USER" -- "$BIN" --config-file="$CONFIG" --pid-file="$PIDFILE" --daemon
		else
			"$BIN" --config-file="$CONFIG" --pid-file="$PIDFILE" --daemon
		fi
	fi

	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		if ping; then
			native_ok || die "HTTP answers but nothing listens on $HOST:$NATIVE_PORT (check listen_host in $CONFIG)"
			log "started (pid $(server_pid || echo '?'))"
			return 0
		fi
		sleep 0.1
	done
	show_logs
	die "no answer from http://$HOST:$HTTP_PORT/ping after ${START_TIMEOUT}s"
}

cmd_stop() {
	local pid i
	if ! pid=$(server_pid); then
		if ping && ! privileged; then
			die "stopping it needs root (or user $RUN_USER)"
		fi
		if ping; then
			die "something answers on :$HTTP_PORT but $PIDFILE names no live clickhouse-server; not stopping it"
		fi
		[[ -e $PIDFILE ]] && privileged && rm -f "$PIDFILE"
		log "not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || die "cannot signal pid $pid (needs root or user $RUN_USER)"
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		log "pid $pid still running after ${STOP_TIMEOUT}s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		alive "$pid" && die "pid $pid survived SIGKILL"
	fi
	rm -f "$PIDFILE" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		ping || break
		sleep 0.1
	done
	ping && die "pid $pid is gone but :$HTTP_PORT still answers (another server?)"
	log "stopped (was pid $pid)"
}

cmd_status() {
	if ping; then
		if native_ok; then
			log "running (pid $(server_pid || echo '?')): http $HOST:$HTTP_PORT ok, native $HOST:$NATIVE_PORT ok"
			return 0
		fi
		log "http $HOST:$HTTP_PORT answers, but native $HOST:$NATIVE_PORT does not"
		return 3
	fi
	log "not running"
	return 3
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
