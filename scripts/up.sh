#!/usr/bin/env bash
# `make up`: run the stack in the foreground; on Ctrl-C stop the workers (manage.py up does that),
# then the PostgreSQL/Redis servers that scripts/ensure-system.sh started for this session, if any.
set -u
STARTED=${DVA_STARTED_FILE:-var/run/started-services}
# A handler, not '' (ignored): children must still get Ctrl-C; this script then goes on to clean up.
trap 'true' INT
./manage.py up
rc=$?
if [ -s "$STARTED" ]; then
  while read -r kind arg; do
    case $kind in
      postgresql) echo "[up] stopping PostgreSQL $arg (started by make up)" >&2
                  pg_ctlcluster --skip-systemctl-redirect "$arg" main stop || pg_ctlcluster "$arg" main stop ;;
      redis) echo "[up] stopping Redis on $arg (started by make up)" >&2
             redis-cli -p "$arg" shutdown nosave >/dev/null 2>&1 || true ;;
    esac
  done <"$STARTED"
  rm -f "$STARTED"
fi
exit $rc
