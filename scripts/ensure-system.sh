#!/usr/bin/env bash
# Install (Debian apt) and start what dva-ocr needs and is missing: ffmpeg, PostgreSQL with
# contrib (pg_trgm), Redis, fonts, OpenCV's system libraries. Safe to run again: it only acts
# on what is absent or stopped. Postgres/Redis named by DATABASE_URL/BROKER_URL on another host are
# left alone (only checked).
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
# Services this script starts are noted here, so `make up` can stop exactly those when it ends.
STARTED=${DVA_STARTED_FILE:-var/run/started-services}
note_started() { mkdir -p "$(dirname "$STARTED")"; echo "$*" >>"$STARTED"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

DB_URL=${DATABASE_URL:-postgresql://postgres:postgres@127.0.0.1:5432/dva_ocr}
BROKER=${BROKER_URL:-redis://127.0.0.1:6379/0}
# host and port out of the URLs (no credentials with '@' in passwords assumed)
pg_hostport=$(sed -E 's#^[a-z+]+://([^@/]*@)?([^/?]+).*#\2#' <<<"$DB_URL")
PG_HOST=${pg_hostport%%:*}; PG_PORT=${pg_hostport##*:}; [ "$PG_PORT" = "$pg_hostport" ] && PG_PORT=5432
rd_hostport=$(sed -E 's#^rediss?://([^@/]*@)?([^/?]+).*#\2#' <<<"$BROKER")
RD_HOST=${rd_hostport%%:*}; RD_PORT=${rd_hostport##*:}; [ "$RD_PORT" = "$rd_hostport" ] && RD_PORT=6379
is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 ]]; }

pkgs=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || pkgs+=(ffmpeg)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || pkgs+=(fonts-dejavu-core)
# CJK glyphs (Japanese, simplified and traditional Chinese) for the PP-OCRv5 tests and training lines
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || pkgs+=(fonts-wqy-zenhei)
ldconfig -p | grep -q 'libGL.so.1' || pkgs+=(libgl1)
ldconfig -p | grep -q 'libgthread-2.0.so.0' || pkgs+=(libglib2.0-0)
python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
command -v pg_isready >/dev/null || pkgs+=(postgresql-client)
if is_local "$PG_HOST"; then
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || pkgs+=(postgresql)
  ls /usr/share/postgresql/*/extension/pg_trgm.control >/dev/null 2>&1 || pkgs+=(postgresql-contrib)
fi
if is_local "$RD_HOST"; then command -v redis-server >/dev/null || pkgs+=(redis-server); fi
# The browser tests drive Debian's chromium (never a downloaded browser); `make test` asks for it.
if [ "${DVA_BROWSER_TESTS:-0}" = 1 ]; then [ -x /usr/bin/chromium ] || pkgs+=(chromium); fi

fresh_pg=0
if [ ${#pkgs[@]} -gt 0 ]; then
  [[ " ${pkgs[*]} " == *" postgresql "* ]] && fresh_pg=1
  log "installing: ${pkgs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
fi

if is_local "$PG_HOST" && ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || as_root pg_ctlcluster "$ver" main start
  note_started "postgresql $ver"
  for _ in $(seq 60); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 0.5; done
  if [ $fresh_pg = 1 ]; then
    # A fresh Debian cluster asks TCP clients for a password: give the postgres role the default one.
    log "setting the postgres role's password to the default in DATABASE_URL"
    as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
  fi
fi
pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || { log "PostgreSQL at $PG_HOST:$PG_PORT is not reachable"; exit 1; }

redis_up() { python3 - "$RD_HOST" "$RD_PORT" <<'PY'
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1); s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
if is_local "$RD_HOST" && ! redis_up; then
  log "starting Redis on $RD_PORT"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$RD_PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/dva-ocr-redis.log
  note_started "redis $RD_PORT"
  for _ in $(seq 40); do redis_up && break; sleep 0.25; done
fi
redis_up || { log "Redis at $RD_HOST:$RD_PORT is not reachable"; exit 1; }
log "system ready: ffmpeg, PostgreSQL $PG_HOST:$PG_PORT, Redis $RD_HOST:$RD_PORT"
