#!/bin/sh
# Set up .venv and run a Polyport node on its embedded defaults: SQLite and files in ./data.
# As a non-root user every port below 1024 moves up by 10000 (SMTP 25 -> 10025); see README.md.
# Extra arguments go to `polyport serve` (e.g. --domain example.com).
. "$(dirname "$0")/scripts/bootstrap.sh"

if [ "$(id -u)" = 0 ]; then offset=${PORT_OFFSET:-0}; else offset=${PORT_OFFSET:-10000}; fi
exec .venv/bin/polyport serve --data "${DATA:-./data}" --port-offset "$offset" "$@"
