# shellcheck shell=bash
# Sourced by infra/test.sh: the test disk images (base.img, lamp.img, web.img; ext4 from Debian packages).
# Exports TELEPORT_TEST_IMAGES=DIR. Built once (about a minute, ~100 MiB of .debs downloaded into
# ~/.cache/teleport/debs); later runs reuse them while the build script is unchanged.

need_packages e2fsprogs openssl mawk debian-archive-keyring

export TELEPORT_TEST_IMAGES=${TELEPORT_TEST_IMAGES:-$HOME/.cache/teleport/images}
"$TELEPORT_ROOT/infra/images/make-test-images.sh" --out "$TELEPORT_TEST_IMAGES"
for _img in base lamp web; do
    [[ -s $TELEPORT_TEST_IMAGES/$_img.img ]] || die "make-test-images.sh left no $_img.img in $TELEPORT_TEST_IMAGES"
done
unset _img
log "test images: $TELEPORT_TEST_IMAGES ($(tr '\n' ' ' <"$TELEPORT_TEST_IMAGES/MANIFEST" | sed -E 's/, sha256 [0-9a-f]+//g'))"
