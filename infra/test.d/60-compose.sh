# shellcheck shell=bash
# Sourced by infra/test.sh: Debian's docker-compose, so tests can check docker-compose.yml with `config`
# (no Docker engine is needed or started), and Debian's python3 with python3-yaml to turn the resolved file into
# JSON for the assertions. Exports TELEPORT_DOCKER_COMPOSE and TELEPORT_YAML_PYTHON.

need_packages docker-compose python3-yaml
TELEPORT_DOCKER_COMPOSE=$(command -v docker-compose) || die "docker-compose is not on PATH after installing it"
TELEPORT_YAML_PYTHON=/usr/bin/python3
"$TELEPORT_YAML_PYTHON" -c 'import yaml' || die "$TELEPORT_YAML_PYTHON cannot import yaml (Debian package python3-yaml)"
export TELEPORT_DOCKER_COMPOSE TELEPORT_YAML_PYTHON
