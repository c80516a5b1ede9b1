#!/usr/bin/env bash
# Builds small, realistic ext4 disk images of three related Debian 12 systems from Debian's own packages:
#   base.img  a minimal server install (systemd, apt, coreutils, perl-base, python3-minimal, openssh...)
#   lamp.img  base + Apache, PHP and the MariaDB server, a shop's SQL dump, uploads and access logs
#   web.img   base + nginx and Python, static assets and access logs
# lamp and web share base's packages and one data set, and each has data of its own, so the similarity
# between the images is what it is between real VMs cloned from one golden image.
#
# With --large it builds, beside those (same directory, its own stamp), a pair at the scale users have:
#   big-base.img  2 GiB: the lamp system with 24x the generated data (a shop that has run for a while)
#   big-lamp.img  2 GiB: big-base some weeks later: nginx and Python added, the SQL dump and access log grown
#                 (the same rows first), more uploads, its own system log; about 70% of it is zero blocks
#
# usage: make-test-images.sh [--out DIR] [--size MIB] [--large] [--force]
#   --out DIR    where the images go (default: $TELEPORT_TEST_IMAGES, else ~/.cache/teleport/images)
#   --size MIB   size of every image (default: 256 for base and web, 384 for lamp: its packages need ~300 MiB;
#                2048 for the large pair)
#   --large      the benchmark pair big-base and big-lamp instead of the small images
#   --force      rebuild even if the images are up to date
# Needs root (file ownership in the images), apt-get, dpkg-deb, e2fsprogs and openssl. Downloads the .debs
# from the Debian mirror once into $TELEPORT_CACHE/debs (default ~/.cache/teleport/debs); with a stamp that
# matches this script and its options, it does nothing. The images are deterministic: a rebuild on the same
# machine with the same package versions gives byte-identical files (fixed UUIDs, hash seeds and times).
set -Eeuo pipefail

script=$(readlink -f "${BASH_SOURCE[0]}")
out=${TELEPORT_TEST_IMAGES:-$HOME/.cache/teleport/images}
cache=${TELEPORT_CACHE:-$HOME/.cache/teleport}
mirror=${TELEPORT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${TELEPORT_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=bookworm
size=
large=0
force=0
epoch=1700000000 # every generated time: 2023-11-14 22:13:20 UTC

log() { printf '[images %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

while (($#)); do
    case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --size) size=${2:?--size needs MiB}; shift 2 ;;
    --large) large=1; shift ;;
    --force) force=1; shift ;;
    -h | --help) sed -n '2,/^set -E/p' "$script" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ -z $size || $size =~ ^[0-9]+$ ]] || die "--size takes a whole number of MiB, not '$size'"

# Package sets. apt resolves their dependencies (without recommends) as on a fresh install.
base_packages=(base-files base-passwd usr-is-merged bash coreutils dash debianutils diffutils findutils grep gzip
    hostname libc-bin login mount util-linux sed tar ncurses-base ncurses-bin perl-base sysvinit-utils systemd
    systemd-sysv apt dpkg passwd e2fsprogs python3-minimal iproute2 iputils-ping procps openssh-server less
    netbase kmod)
lamp_packages=(apache2 libapache2-mod-php8.2 php8.2-mysql mariadb-server-core)
web_packages=(nginx python3)

# Like Debian's minimized images (dpkg path-exclude): no manuals, translations or docs.
tar_excludes=(--exclude='./usr/share/man/*' --exclude='./usr/share/locale/*' --exclude='./usr/share/info/*'
    --exclude='./usr/share/doc/*' --exclude='./usr/share/lintian/*')

# ---- checks ----------------------------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "run as root: the images keep the packages' file owners and modes"
for tool in apt-get dpkg-deb tar mke2fs debugfs dumpe2fs e2fsck openssl mawk sha256sum flock; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install e2fsprogs openssl mawk apt dpkg tar util-linux"
done
[[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]] || die "Debian's archive key is missing: apt-get install debian-archive-keyring"

stamp_key=$(
    sha256sum "$script" | cut -d' ' -f1
    echo "size=$size large=$large suite=$suite"
)
images=(base lamp web)
stamp=$out/.stamp
if ((large)); then
    images=(big-base big-lamp)
    stamp=$out/.stamp-large
fi
up_to_date() {
    [[ -f $stamp && $(cat "$stamp") == "$stamp_key" ]] || return 1
    local name
    for name in "${images[@]}"; do [[ -s $out/$name.img ]] || return 1; done
}

mkdir -p "$out"
if ((!force)) && up_to_date; then
    log "images in $out are up to date"
    exit 0
fi
# One builder at a time (two test runs may start together); the second finds the images built.
exec 9>"$out/.lock"
flock -w 1800 9 || die "another build holds $out/.lock for over 30 minutes"
if ((!force)) && up_to_date; then
    log "images in $out were built meanwhile"
    exit 0
fi

started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/teleport-images.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# ---- a private apt: Debian's mirror only, its own lists, an empty dpkg database ---------------------
# The host's sources may add third-party repositories (whose versions would win) and its dpkg database
# would hide installed packages from the dependency closure; neither must shape the images.

aptdir=$cache/apt
debs=$cache/debs
mkdir -p "$aptdir/lists/partial" "$aptdir/etc/preferences.d" "$aptdir/etc/sources.list.d" "$debs/partial"
: >"$aptdir/status"
cat >"$aptdir/etc/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite-updates main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security_mirror $suite-security main
EOF
apt_opts=(-o "Dir::State=$aptdir" -o "Dir::State::Lists=$aptdir/lists" -o "Dir::State::Status=$aptdir/status"
    -o "Dir::Cache=$aptdir" -o "Dir::Cache::Archives=$debs" -o "Dir::Etc::SourceList=$aptdir/etc/sources.list"
    -o "Dir::Etc::SourceParts=$aptdir/etc/sources.list.d" -o "Dir::Etc::Preferences=$aptdir/etc/preferences"
    -o "Dir::Etc::PreferencesParts=$aptdir/etc/preferences.d" -o Debug::NoLocking=1
    -o APT::Install-Recommends=0 -o APT::Install-Suggests=0 -o APT::Architecture=amd64)

apt_update() {
    log "fetching the package lists of $suite from $mirror"
    apt-get "${apt_opts[@]}" -q update >"$work/apt-update.log" 2>&1 ||
        { tail -n 20 "$work/apt-update.log" >&2; die "apt-get update of the private package lists failed"; }
}
compgen -G "$aptdir/lists/*_Packages*" >/dev/null || apt_update

# closure NAME PKG...: writes "package version" lines of the full dependency closure to $work/NAME.closure.
closure() {
    local name=$1
    shift
    apt-get "${apt_opts[@]}" -s install "$@" >"$work/$name.sim" 2>&1 ||
        { tail -n 20 "$work/$name.sim" >&2; die "apt cannot resolve the $name packages"; }
    awk '/^Inst /{ v = $3; sub(/^\(/, "", v); print $2, v }' "$work/$name.sim" | sort >"$work/$name.closure"
    [[ -s $work/$name.closure ]] || die "empty package closure for $name"
}

# download NAME PKG...: the closure's .debs into the cache (only those not there yet; hashes checked by apt).
download() {
    local name=$1
    shift
    if ! apt-get "${apt_opts[@]}" -q -y --download-only install "$@" >"$work/$name.download" 2>&1; then
        # Old versions leave the mirror after point releases: refresh the lists once and retry.
        apt_update
        closure "$name" "$@"
        apt-get "${apt_opts[@]}" -q -y --download-only install "$@" >"$work/$name.download" 2>&1 ||
            { tail -n 20 "$work/$name.download" >&2; die "downloading the $name packages failed"; }
    fi
}

deb_file() { # package version
    local version=${2//:/%3a} file
    for file in "$debs/$1_${version}_"*.deb; do
        [[ -f $file ]] && { echo "$file"; return 0; }
    done
    die "no .deb for $1 $2 in $debs"
}

# ---- generated data ---------------------------------------------------------------------------------
# mawk (Debian's required awk) rather than whichever awk is the default: its rand() makes the same data everywhere.

scale=$((large ? 24 : 1))

# random_file PATH BYTES SEED: reproducible incompressible bytes (AES-CTR keystream of a key derived from SEED).
random_file() {
    local key
    key=$(printf '%s' "$3" | sha256sum | cut -c1-32)
    mkdir -p "$(dirname "$1")"
    head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 >"$1"
}

# access_log PATH LINES SEED HOST: a web server log in combined format.
access_log() {
    mkdir -p "$(dirname "$1")"
    mawk -v n="$2" -v seed="$3" -v host="$4" -v t0="$epoch" 'BEGIN {
        srand(seed)
        split("GET GET GET GET POST HEAD", verb, " ")
        split("/ /index.php /cart /login /api/items /static/app.js /static/site.css /img/logo.png /search", path, " ")
        split("200 200 200 200 304 302 404 500", code, " ")
        split("Mozilla/5.0 (X11; Linux x86_64)|curl/7.88.1|Mozilla/5.0 (Windows NT 10.0; Win64; x64)|Googlebot/2.1", agent, "|")
        for (i = 0; i < n; i++) {
            t = t0 + i * 3 + int(rand() * 3)
            printf "10.%d.%d.%d - - [%s] \"%s %s?id=%d HTTP/1.1\" %s %d \"https://%s/\" \"%s\"\n",
                int(rand() * 256), int(rand() * 256), int(rand() * 256), strftime("%d/%b/%Y:%H:%M:%S +0000", t, 1),
                verb[1 + int(rand() * 6)], path[1 + int(rand() * 9)], int(rand() * 100000), code[1 + int(rand() * 8)],
                int(rand() * 50000), host, agent[1 + int(rand() * 4)]
        }
    }' >"$1"
}

# syslog_file PATH LINES HOST: a system log (the host name seeds it: every system's log differs).
syslog_file() {
    mkdir -p "$(dirname "$1")"
    mawk -v n="$2" -v host="$3" -v t0="$epoch" 'BEGIN {
        for (i = 1; i <= length(host); i++) seed = seed * 31 + index("abcdefghijklmnopqrstuvwxyz0123456789-", substr(host, i, 1))
        srand(seed)
        split("systemd[1]|sshd[812]|CRON[2231]|kernel|systemd-networkd[301]|systemd-timesyncd[288]", unit, "|")
        split("Started Session %d of User admin.|Accepted publickey for admin from 10.0.%d.%d port %d ssh2|(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 %d)|EXT4-fs (vda1): re-mounted %d. Quota mode: none.|eth0: DHCPv4 address 10.0.%d.%d/24|Initial clock synchronization to %d.", msg, "|")
        for (i = 0; i < n; i++) {
            k = 1 + int(rand() * 6)
            printf "%d %s " msg[k] "\n", t0 + i * 7, host " " unit[k] ":", int(rand() * 250), int(rand() * 250), int(rand() * 65535), int(rand() * 99)
        }
    }' >"$1"
}

# sql_dump PATH ROWS SEED: a shop database dump.
sql_dump() {
    mkdir -p "$(dirname "$1")"
    mawk -v n="$2" -v seed="$3" 'BEGIN {
        srand(seed)
        print "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)"
        print "CREATE DATABASE IF NOT EXISTS `shop`; USE `shop`;"
        print "CREATE TABLE `orders` (`id` int NOT NULL, `customer` varchar(64), `sku` char(12), `qty` int, `cents` int, PRIMARY KEY (`id`)) ENGINE=InnoDB;"
        for (i = 1; i <= n; i++) {
            if (i % 500 == 1) printf "INSERT INTO `orders` VALUES "
            printf "(%d,\x27customer-%06d\x27,\x27SKU%09d\x27,%d,%d)%s", i, int(rand() * 999999), int(rand() * 999999999),
                1 + int(rand() * 9), int(rand() * 100000), (i % 500 == 0 || i == n) ? ";\n" : ","
        }
    }' >"$1"
}

text_files() { # DIR COUNT PREFIX SEED: small source-like text files
    mkdir -p "$1"
    mawk -v dir="$1" -v n="$2" -v prefix="$3" -v seed="$4" 'BEGIN {
        srand(seed)
        for (f = 0; f < n; f++) {
            file = sprintf("%s/%s%03d", dir, prefix, f)
            lines = 40 + int(rand() * 200)
            for (l = 0; l < lines; l++)
                printf "%*s%s_%d = compute(%d, \"%x\")  # line %d\n", (l % 4) * 4, "", "value", int(rand() * 1000), int(rand() * 1e6), int(rand() * 4294967295), l >file
            close(file)
        }
    }'
}

# ---- one image --------------------------------------------------------------------------------------

# stage NAME PKG...: extracts the closure's packages into $work/NAME (merged /usr, as debootstrap does).
stage() {
    local name=$1 tree=$work/$1 package version deb
    shift
    closure "$name" "$@"
    download "$name" "$@"
    rm -rf "$tree"
    mkdir -p "$tree"/usr/{bin,sbin,lib,lib64} "$tree/var/lib/dpkg"
    for dir in bin sbin lib lib64; do ln -s "usr/$dir" "$tree/$dir"; done
    : >"$tree/var/lib/dpkg/status"
    while read -r package version; do
        deb=$(deb_file "$package" "$version")
        dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$tree" "${tar_excludes[@]}"
        dpkg-deb -f "$deb" | awk 'NR == 1 { print; print "Status: install ok installed"; next } { print } END { print "" }' \
            >>"$tree/var/lib/dpkg/status"
    done <"$work/$name.closure"
    cut -d' ' -f1 "$work/$name.closure" >"$work/$name.packages"
}

# configure NAME: what an installer would have written, plus this system's own data.
configure() {
    local name=$1 tree=$work/$1
    cp "$tree/usr/share/base-passwd/passwd.master" "$tree/etc/passwd"
    cp "$tree/usr/share/base-passwd/group.master" "$tree/etc/group"
    awk -F: '{ print $1 ":*:19675:0:99999:7:::" }' "$tree/etc/passwd" >"$tree/etc/shadow"
    chmod 640 "$tree/etc/shadow"
    echo "$name" >"$tree/etc/hostname"
    printf '%s\n' "$(printf 'machine-%s' "$name" | sha256sum | cut -c1-32)" >"$tree/etc/machine-id"
    printf 'LABEL=%s / ext4 errors=remount-ro 0 1\n' "$name" >"$tree/etc/fstab"
    mkdir -p "$tree/var/log" "$tree/home/admin"
    syslog_file "$tree/var/log/syslog.1" $((6000 * scale)) "$name"
    printf 'uptime\ndf -h\nsudo journalctl -u ssh\napt list --upgradable\n' >"$tree/home/admin/.bash_history"
    # big-lamp is big-base grown: the same seeds, so its dump and log begin with big-base's rows.
    local grown=0
    [[ $name == big-lamp ]] && grown=1
    case $name in
    lamp | big-base | big-lamp)
        sql_dump "$tree/var/backups/shop.sql" $(((60000 + 6000 * grown) * scale)) 21
        access_log "$tree/var/log/apache2/access.log" $(((12000 + 3000 * grown) * scale)) 22 shop.example.com
        text_files "$tree/var/www/html/shop" $((40 + 5 * grown)) page- 23
        for i in $(seq -w 1 $(((8 + grown) * scale))); do random_file "$tree/srv/uploads/photo-$i.jpg" 524288 "lamp-upload-$i"; done
        random_file "$tree/srv/shared/catalog.bin" $((4 * 1048576 * scale)) shared-catalog
        ;;
    web)
        access_log "$tree/var/log/nginx/access.log" $((12000 * scale)) 31 www.example.org
        text_files "$tree/srv/app" 30 module- 32
        for i in $(seq -w 1 $((8 * scale))); do random_file "$tree/srv/static/asset-$i.bin" 524288 "web-asset-$i"; done
        random_file "$tree/srv/shared/catalog.bin" $((4 * 1048576 * scale)) shared-catalog
        ;;
    esac
    # Fixed times on everything this script created (package files keep the times they were shipped with).
    find "$tree" -newer "$work/.started" -exec touch -h -d "@$epoch" {} +
}

# image NAME MIB: the ext4 image of $work/NAME with fixed UUID, hash seed and inode times.
image() {
    local name=$1 mib=$2 tree=$work/$1 uuid used inodes ino
    uuid=$(printf 'teleport-%s' "$name" | sha256sum | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/')
    rm -f "$work/$name.img"
    E2FSPROGS_FAKE_TIME=$epoch mke2fs -q -F -t ext4 -b 4096 -L "$name" -U "$uuid" \
        -E "hash_seed=$uuid,root_owner=0:0" -d "$tree" "$work/$name.img" "${mib}M" >"$work/$name.mke2fs" 2>&1 ||
        { tail -n 20 "$work/$name.mke2fs" >&2; die "mke2fs for $name failed (does its content fit in ${mib} MiB? try --size)"; }
    # mke2fs copies the staging files' change times (the moment they were extracted): pin them.
    inodes=$(dumpe2fs -h "$work/$name.img" 2>/dev/null | awk -F: '/^Inode count/ { c = $2 } /^Free inodes/ { f = $2 } END { print c - f }')
    {
        for ((ino = 2; ino <= inodes + 1; ino++)); do
            printf 'sif <%d> atime @%d\nsif <%d> ctime @%d\nsif <%d> crtime @%d\n' "$ino" "$epoch" "$ino" "$epoch" "$ino" "$epoch"
        done
    } >"$work/$name.debugfs"
    E2FSPROGS_FAKE_TIME=$epoch debugfs -w -f "$work/$name.debugfs" "$work/$name.img" >/dev/null 2>"$work/$name.debugfs.log" ||
        { tail -n 20 "$work/$name.debugfs.log" >&2; die "debugfs could not pin the inode times of $name"; }
    e2fsck -fn "$work/$name.img" >"$work/$name.fsck" 2>&1 ||
        { cat "$work/$name.fsck" >&2; die "e2fsck found errors in $name.img"; }
    used=$(du -sm --apparent-size "$tree" | cut -f1)
    log "$name.img: ${mib} MiB, ${used} MiB of files from $(wc -l <"$work/$name.packages") packages"
    printf '%s %s MiB image, %s MiB of files, %s packages, sha256 %s\n' "$name" "$mib" "$used" \
        "$(wc -l <"$work/$name.packages")" "$(sha256sum "$work/$name.img" | cut -d' ' -f1)" >>"$work/MANIFEST"
    rm -rf "$tree"
}

size_of() {
    if [[ -n $size ]]; then echo "$size"
    elif ((large)); then echo 2048
    elif [[ $1 == lamp ]]; then echo 384
    else echo 256
    fi
}

touch "$work/.started"
: >"$work/MANIFEST"
log "building ${images[*]} into $out"
if ((large)); then
    stage big-base "${base_packages[@]}" "${lamp_packages[@]}"
    configure big-base
    image big-base "$(size_of big-base)"
    stage big-lamp "${base_packages[@]}" "${lamp_packages[@]}" "${web_packages[@]}"
    configure big-lamp
    image big-lamp "$(size_of big-lamp)"
else
    stage base "${base_packages[@]}"
    configure base
    image base "$(size_of base)"
    stage lamp "${base_packages[@]}" "${lamp_packages[@]}"
    configure lamp
    image lamp "$(size_of lamp)"
    stage web "${base_packages[@]}" "${web_packages[@]}"
    configure web
    image web "$(size_of web)"
fi

manifest=$out/MANIFEST
((large)) && manifest=$out/MANIFEST-large
for name in "${images[@]}"; do
    mv -f "$work/$name.img" "$out/$name.img"
    mv -f "$work/$name.packages" "$out/$name.packages"
done
mv -f "$work/MANIFEST" "$manifest"
echo "$stamp_key" >"$stamp"
log "done in $((SECONDS - started))s: $(tr '\n' ';' <"$manifest")"
