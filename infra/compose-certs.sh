#!/usr/bin/env bash
# Makes the TLS material docker-compose.yml mounts, once, with openssl: three CAs (NBD, data channel, bus) and the
# certificates of every service, in the layout of QEMU's tls-creds-x509 dir= (docs/security.md). Run it as root
# before the first `docker-compose up`, from anywhere:
#
#   infra/compose-certs.sh [--force] [DIR]        (DIR: ./tls beside docker-compose.yml)
#
# DIR/storage-a/nbd    ca-cert.pem server-cert.pem server-key.pem   NBD server (--nbd-tls-dir), CN storage-a
# DIR/storage-a/data   ca-cert.pem server-cert.pem server-key.pem   data channel (--data-tls-dir), CN = storage id
# DIR/storage-b/...    the same for storage-b
# DIR/host-1/nbd       ca-cert.pem client-cert.pem client-key.pem   NBD client (--nbd-tls-dir), CN = host id
# DIR/rabbitmq         ca-cert.pem server-cert.pem server-key.pem   the broker's amqps listener (rabbitmq, 127.0.0.1)
# DIR/bus/ca-cert.pem  the CA every role's amqps:// address names with ?ca=
# DIR/ca/*-key.pem     the CA keys: never mounted; keep them offline to issue or rotate certificates
#
# Keys are created 0600 (umask 077 before they exist). As root, the Teleport services' keys are given to the
# image's user (uid TELEPORT_APP_UID, 1654: "app" of the .NET images) and the broker's to the rabbitmq image's user
# (uid TELEPORT_RABBITMQ_UID, 999); as another user they stay yours and the script says what to chown.
# An existing DIR is kept (certificates are not replaced under running services) unless --force is given.
set -Eeuo pipefail

force=
while (($#)); do
    case $1 in
    --force) force=1; shift ;;
    -h | --help) sed -n '2,/^set -E/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compose-certs.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
(($# <= 1)) || { echo "compose-certs.sh: one directory at most" >&2; exit 2; }
dir=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tls}
app_uid=${TELEPORT_APP_UID:-1654}
rabbitmq_uid=${TELEPORT_RABBITMQ_UID:-999}
command -v openssl >/dev/null || { echo "compose-certs.sh: openssl is not on PATH (Debian package openssl)" >&2; exit 1; }

if [[ -e $dir/ca && -z $force ]]; then
    echo "compose-certs.sh: $dir already holds TLS material; kept (--force makes it anew)" >&2
    exit 0
fi
rm -rf "$dir"
umask 077
mkdir -p "$dir/ca"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# new_ca NAME: DIR/ca/NAME-key.pem and DIR/ca/NAME-cert.pem, ten years.
new_ca() {
    new_key "$dir/ca/$1-key.pem"
    openssl req -x509 -new -key "$dir/ca/$1-key.pem" -days 3650 -subj "/CN=teleport-$1-ca" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out "$dir/ca/$1-cert.pem"
}

# issue CA DEST ROLE CN USAGE [SAN]: DEST/{ca-cert,ROLE-cert,ROLE-key}.pem signed by CA, one year.
issue() {
    local ca=$1 dest=$2 role=$3 cn=$4 usage=$5 san=${6:-}
    mkdir -p "$dest"
    new_key "$dest/$role-key.pem"
    openssl req -new -key "$dest/$role-key.pem" -subj "/CN=$cn" -out "$work/$role.csr"
    {
        echo 'basicConstraints=critical,CA:FALSE'
        echo 'keyUsage=critical,digitalSignature,keyEncipherment'
        echo "extendedKeyUsage=$usage"
        [[ -z $san ]] || echo "subjectAltName=$san"
    } >"$work/$role.ext"
    openssl x509 -req -in "$work/$role.csr" -CA "$dir/ca/$ca-cert.pem" -CAkey "$dir/ca/$ca-key.pem" -CAcreateserial \
        -days 365 -extfile "$work/$role.ext" -out "$dest/$role-cert.pem" 2>/dev/null
    cp "$dir/ca/$ca-cert.pem" "$dest/ca-cert.pem"
}

for ca in nbd data bus; do new_ca "$ca"; done
for storage in storage-a storage-b; do
    # QEMU as an NBD client checks the server's name: the compose name, and localhost for the published port.
    issue nbd "$dir/$storage/nbd" server "$storage" serverAuth "DNS:$storage,DNS:localhost,IP:127.0.0.1"
    # The data channel identifies a worker by CN alone; the same pair receives (server) and sends (client).
    issue data "$dir/$storage/data" server "$storage" serverAuth,clientAuth
done
issue nbd "$dir/host-1/nbd" client host-1 clientAuth
issue bus "$dir/rabbitmq" server rabbitmq serverAuth "DNS:rabbitmq,DNS:localhost,IP:127.0.0.1"
mkdir -p "$dir/bus"
cp "$dir/ca/bus-cert.pem" "$dir/bus/ca-cert.pem"

# Certificates and directories are public; keys stay 0600.
find "$dir" -type d -exec chmod 755 {} +
find "$dir" -name '*-cert.pem' -exec chmod 644 {} +
rm -f "$dir"/ca/*.srl
if ((EUID == 0)); then
    chown -R "$app_uid" "$dir/storage-a" "$dir/storage-b" "$dir/host-1"
    chown -R "$rabbitmq_uid" "$dir/rabbitmq"
else
    echo "compose-certs.sh: not root: keys stay yours; before docker-compose up run" \
        "chown -R $app_uid $dir/storage-a $dir/storage-b $dir/host-1 && chown -R $rabbitmq_uid $dir/rabbitmq" >&2
fi
echo "compose-certs.sh: TLS material in $dir (CA keys in $dir/ca: keep them offline)" >&2
