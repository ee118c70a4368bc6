# shellcheck shell=sh
# Defaults for running Profiles and its tests against the local services that scripts/setup.sh starts.
# Source it (`. scripts/env.sh`); the make targets do. A variable the caller already set is left alone.

if [ -n "${BASH_SOURCE:-}" ]; then
	_profiles_root=$(cd "$(dirname "$BASH_SOURCE")/.." && pwd)
elif [ -f scripts/env.sh ]; then
	_profiles_root=$PWD
else
	_profiles_root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
fi

: "${PROFILES_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/profiles?sslmode=disable}"
: "${PROFILES_CLICKHOUSE_URL:=clickhouse://127.0.0.1:9000/profiles}"
: "${PROFILES_NATS_URL:=nats://127.0.0.1:4222}"
# The embedded current ClickHouse (npm @chdb/lib-linux-x64-gnu) that tests run the same SQL on.
: "${CHDB_LIB_PATH:=$_profiles_root/.tools/node_modules/@chdb/lib-linux-x64-gnu/libchdb.so}"
export PROFILES_DATABASE_URL PROFILES_CLICKHOUSE_URL PROFILES_NATS_URL CHDB_LIB_PATH

# buf (npm @bufbuild/buf) lives in .tools.
case ":$PATH:" in
*":$_profiles_root/.tools/node_modules/.bin:"*) ;;
*) PATH=$_profiles_root/.tools/node_modules/.bin:$PATH ;;
esac
export PATH

unset _profiles_root
