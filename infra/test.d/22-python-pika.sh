# shellcheck shell=bash
# Hook (sourced by infra/test.sh): Debian's python3 with python3-pika, which runs the foreign bus client
# examples/python/teleport_migrate.py in the end-to-end tests. Exports TELEPORT_PYTHON3 (the system interpreter,
# not a pyenv shim, so that Debian's pika is the one imported).
need_packages python3 python3-pika
TELEPORT_PYTHON3=/usr/bin/python3
"$TELEPORT_PYTHON3" -c 'import pika' || die "python3-pika is installed but /usr/bin/python3 cannot import pika"
export TELEPORT_PYTHON3
