# shellcheck shell=bash
# Sourced by infra/test.sh: a private PostgreSQL cluster for this run, on 127.0.0.1 only, for the orchestrator's
# saga repository tests. Exports TELEPORT_POSTGRES (an Npgsql connection string of a superuser, who may create
# a throwaway database per test). Debian's postgresql package, run as the postgres user straight from its bin
# directory with initdb into a temporary directory: the packaged cluster and systemd are never used.

need_packages postgresql iproute2

_pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[[ -x $_pg_bin/initdb && -x $_pg_bin/pg_ctl ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
id postgres >/dev/null 2>&1 || die "the postgres user is missing (it comes with the postgresql-common package)"
_pg_tmp=${TMPDIR:-/tmp}

# Clusters left by runs that were killed before they could clean up: their test.sh is gone, the server may not be.
for _pg_old in "$_pg_tmp"/teleport-postgres.*; do
    [[ -d $_pg_old && -f $_pg_old/owner.pid ]] || continue
    _pg_owner=$(cat "$_pg_old/owner.pid")
    [[ -r /proc/$_pg_owner/cmdline ]] && tr '\0' ' ' <"/proc/$_pg_owner/cmdline" | grep -q test.sh && continue
    log "removing a PostgreSQL cluster left by a killed run: $_pg_old"
    [[ -f $_pg_old/data/postmaster.pid ]] &&
        runuser -u postgres -- "$_pg_bin/pg_ctl" -D "$_pg_old/data" -m immediate -w stop >/dev/null 2>&1
    rm -rf -- "$_pg_old"
done

_pg_dir=$(mktemp -d "$_pg_tmp/teleport-postgres.XXXXXX")
echo $$ >"$_pg_dir/owner.pid"
chown postgres: "$_pg_dir"
chmod 700 "$_pg_dir"
_pg_port=
free_port _pg_port 25432
_pg_user=teleport
_pg_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
_pg_database=teleport_test
printf '%s\n' "$_pg_password" >"$_pg_dir/pwfile"
chown postgres: "$_pg_dir/pwfile"

_pg_stop() {
    if [[ -f $_pg_dir/data/postmaster.pid ]]; then
        runuser -u postgres -- "$_pg_bin/pg_ctl" -D "$_pg_dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            runuser -u postgres -- "$_pg_bin/pg_ctl" -D "$_pg_dir/data" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf -- "$_pg_dir"
}
on_exit _pg_stop

log "initialising PostgreSQL ($_pg_bin) in $_pg_dir"
runuser -u postgres -- "$_pg_bin/initdb" -D "$_pg_dir/data" -U "$_pg_user" --pwfile="$_pg_dir/pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$_pg_dir/initdb.log" 2>&1 ||
    { tail -n 20 "$_pg_dir/initdb.log" | sed 's/^/    | /' >&2; die "initdb failed"; }
rm -f "$_pg_dir/pwfile"

# The port was free when chosen, but another run on this machine may take it before the server binds: then the
# next free port, a few times.
for _pg_try in 1 2 3; do
    log "starting PostgreSQL on 127.0.0.1:$_pg_port"
    runuser -u postgres -- "$_pg_bin/pg_ctl" -D "$_pg_dir/data" -l "$_pg_dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $_pg_port -k $_pg_dir -c fsync=off -c max_connections=200" start >/dev/null &&
        break
    tail -n 30 "$_pg_dir/server.log" | sed 's/^/    | /' >&2
    if ((_pg_try == 3)) || ! grep -q 'Address already in use' "$_pg_dir/server.log"; then
        die "PostgreSQL did not start"
    fi
    log "port $_pg_port was taken meanwhile; trying the next free one"
    free_port _pg_port $((_pg_port + 1))
done

_pg_psql() {
    PGPASSWORD=$_pg_password "$_pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$_pg_port" -U "$_pg_user" "$@"
}
wait_for "PostgreSQL accepting connections on 127.0.0.1:$_pg_port" 60 _pg_psql -d postgres -c 'SELECT 1'
_pg_psql -d postgres -c "CREATE DATABASE $_pg_database" || die "could not create database $_pg_database"

export TELEPORT_POSTGRES="Host=127.0.0.1;Port=$_pg_port;Username=$_pg_user;Password=$_pg_password;Database=$_pg_database"
log "PostgreSQL ready: database $_pg_database on 127.0.0.1:$_pg_port (TELEPORT_POSTGRES)"
