#!/usr/bin/env bash
# Makes a Debian 12 machine ready to build, test and run Profiles, installing only what is missing:
#   - PostgreSQL 15 on 127.0.0.1:5432, user postgres without a password (trust), database profiles
#   - NATS with JetStream on 127.0.0.1:4222
#   - ClickHouse (Debian's 18.16) native on 127.0.0.1:9000, HTTP on :8123, database profiles
#   - buf and the embedded ClickHouse engine (libchdb.so) from npm, into .tools/
#   - web/node_modules (the TypeScript code generators, Connect, tsx) by `npm ci` from web/package-lock.json
#
#   scripts/setup.sh [all|services|tools]     (default all)
#
# Idempotent and quick (about a second) when everything is there. Installing or starting something needs root;
# checking does not, so a non-root user can run it once the services run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

BUF_VERSION=1.75.0
CHDB_VERSION=26.5.3
TOOLS=$ROOT/.tools
BUF_PKG=$TOOLS/node_modules/@bufbuild/buf
CHDB_PKG=$TOOLS/node_modules/@chdb/lib-linux-x64-gnu
WEB=$ROOT/web
# Written into web/node_modules after a successful `npm ci`: the hash of the package files it installed from.
WEB_STAMP=$WEB/node_modules/.profiles-npm-ci.sha256

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }
need_root() { is_root || die "$1 needs root: run scripts/setup.sh as root"; }

APT_UPDATED=
apt_install() {
	need_root "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	if [[ -z $APT_UPDATED ]]; then
		log "apt-get update"
		apt-get update -qq
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	# The packages' own service start is refused by policy-rc.d on these machines; we start them below.
	apt-get install -y -qq "$@" >/dev/null
}

# wait_for SECONDS DESCRIPTION COMMAND... polls COMMAND every 0.1 s.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	die "$what not ready after ${secs}s"
}

# ---- PostgreSQL -------------------------------------------------------------------------------------------------

pg_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }
pg_psql() { psql -X -w -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres "$@"; }
pg_login() { pg_psql -d postgres -c 'SELECT 1' >/dev/null 2>&1; }

pg_version() {
	local v
	# shellcheck disable=SC2012 # cluster versions are plain numbers
	v=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
	printf '%s\n' "${v:-15}"
}

ensure_postgres() {
	local ver out hba
	if ! pg_ready; then
		if [[ -z $(ls /etc/postgresql 2>/dev/null) ]] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
			apt_install postgresql
		fi
		ver=$(pg_version)
		need_root "starting PostgreSQL $ver"
		log "postgres: starting cluster $ver/main"
		pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true # "already running" is fine
		wait_for 30 "postgres on 127.0.0.1:5432" pg_ready
	fi

	# Trust for user postgres on 127.0.0.1: Debian's fresh pg_hba.conf asks for a password there.
	if ! out=$(pg_psql -d postgres -c 'SELECT 1' 2>&1); then
		case $out in
		*password* | *authentication*) ;;
		*) die "postgres: cannot connect as postgres@127.0.0.1: $out" ;;
		esac
		ver=$(pg_version)
		hba=/etc/postgresql/$ver/main/pg_hba.conf
		need_root "configuring trust auth in $hba"
		log "postgres: trust auth for 127.0.0.1 and ::1 in $hba"
		# First matching line wins, so these go on top.
		sed -i '1i # Added by profiles scripts/setup.sh: local development, no passwords on loopback.\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
		pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
		wait_for 10 "postgres trust auth" pg_login
	fi

	if [[ $(pg_psql -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'profiles'") != 1 ]]; then
		log "postgres: creating database profiles"
		pg_psql -d postgres -c 'CREATE DATABASE profiles' >/dev/null
	fi
	log "postgres: ready on 127.0.0.1:5432"
}

# ---- NATS -------------------------------------------------------------------------------------------------------

# nats_info prints the INFO line the server sends on connect (it says whether JetStream is on).
nats_info() {
	# shellcheck disable=SC2016 # $line belongs to the inner bash
	timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222 && IFS= read -r -t 2 line <&3 && printf "%s\n" "$line"' 2>/dev/null
}
nats_up() { [[ $(nats_info) == INFO* ]]; }

ensure_nats() {
	local info
	if ! nats_up; then
		[[ -x /usr/sbin/nats-server ]] || apt_install nats-server
		need_root "starting nats-server"
		log "nats: starting nats-server -js on 127.0.0.1:4222"
		mkdir -p /var/lib/nats-server
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
			-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
		wait_for 15 "nats on 127.0.0.1:4222" nats_up
	fi
	info=$(nats_info)
	[[ $info == *'"jetstream":true'* ]] ||
		die "nats: the server on 127.0.0.1:4222 runs without JetStream; restart it with -js"
	log "nats: ready on 127.0.0.1:4222 (JetStream)"
}

# ---- ClickHouse -------------------------------------------------------------------------------------------------

ch_query() { curl -sf --max-time 10 --data-binary "$1" http://127.0.0.1:8123/; }

ensure_clickhouse() {
	command -v curl >/dev/null 2>&1 || apt_install curl
	if ! scripts/clickhouse.sh status >/dev/null; then
		if [[ ! -x /usr/sbin/clickhouse-server ]] || ! command -v clickhouse-client >/dev/null 2>&1; then
			apt_install clickhouse-server clickhouse-client
		fi
		# Debian's config.xml leaves listen_host commented out, so 18.16 listens on ::1 and 127.0.0.1 (and
		# tolerates either failing); start checks that 127.0.0.1:9000 accepts connections.
		scripts/clickhouse.sh start | sed 's/^/setup: /'
	fi
	ch_query 'CREATE DATABASE IF NOT EXISTS profiles' >/dev/null ||
		die "clickhouse: CREATE DATABASE profiles failed"
	log "clickhouse: ready on 127.0.0.1:9000 (native) and :8123 (http), version $(ch_query 'SELECT version()')"
}

# ---- npm tools --------------------------------------------------------------------------------------------------

# pkg_is DIR VERSION succeeds when the npm package in DIR is at VERSION.
pkg_is() { grep -q "\"version\": *\"$2\"" "$1/package.json" 2>/dev/null; }

ensure_tools() {
	local want=()
	[[ -x $TOOLS/node_modules/.bin/buf ]] && pkg_is "$BUF_PKG" "$BUF_VERSION" || want+=("@bufbuild/buf@$BUF_VERSION")
	[[ -f $CHDB_PKG/libchdb.so ]] && pkg_is "$CHDB_PKG" "$CHDB_VERSION" || want+=("@chdb/lib-linux-x64-gnu@$CHDB_VERSION")
	if ((${#want[@]} > 0)); then
		if ! command -v npm >/dev/null 2>&1; then
			apt_install nodejs npm
		fi
		log "npm install ${want[*]} into .tools (libchdb is about 570 MB)"
		npm install --prefix "$TOOLS" --no-audit --no-fund --no-progress --save-exact --loglevel=error "${want[@]}"
	fi
	[[ -f $CHDB_PKG/libchdb.so ]] || die "libchdb.so is not at $CHDB_PKG/libchdb.so after npm install"
	log "tools: buf $("$TOOLS/node_modules/.bin/buf" --version) in .tools/node_modules/.bin, CHDB_LIB_PATH=$CHDB_PKG/libchdb.so"
	ensure_web_deps
}

# ensure_web_deps runs `npm ci` in web/ when web/node_modules is missing or was installed from other package
# files than web/package.json and web/package-lock.json now (a stamp in node_modules holds their hash). buf
# generate runs the TypeScript plugins from there, and the client tests run tsx from there.
ensure_web_deps() {
	local want major
	want=$(cat "$WEB/package.json" "$WEB/package-lock.json" | sha256sum | cut -d' ' -f1)
	if [[ -d $WEB/node_modules && $(cat "$WEB_STAMP" 2>/dev/null) == "$want" ]]; then
		log "web: node_modules up to date with web/package-lock.json"
		return
	fi
	command -v npm >/dev/null 2>&1 || apt_install nodejs npm
	# Debian 12's own nodejs is 18; protoc-gen-es 2.13 and connect-node 2.1 need 20 (and their newer releases 22).
	major=$(node -p 'process.versions.node.split(".")[0]')
	((major >= 20)) || die "web: Node $(node --version) is too old; web/ needs Node 20 or newer"
	log "web: npm ci (web/node_modules missing or older than web/package-lock.json)"
	(cd "$WEB" && npm ci --no-audit --no-fund --no-progress --loglevel=error)
	printf '%s\n' "$want" >"$WEB_STAMP"
}

# -----------------------------------------------------------------------------------------------------------------

case ${1:-all} in
all)
	ensure_postgres
	ensure_nats
	ensure_clickhouse
	ensure_tools
	;;
services)
	ensure_postgres
	ensure_nats
	ensure_clickhouse
	;;
tools) ensure_tools ;;
*)
	echo "usage: $0 [all|services|tools]" >&2
	exit 2
	;;
esac
