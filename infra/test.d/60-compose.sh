# Sourced by infra/test.sh: Debian's docker-compose, so tests can check docker-compose.yml with `config`
# (no Docker engine is needed or started). Exports TELEPORT_DOCKER_COMPOSE.

need_packages docker-compose
TELEPORT_DOCKER_COMPOSE=$(command -v docker-compose) || die "docker-compose is not on PATH after installing it"
export TELEPORT_DOCKER_COMPOSE
