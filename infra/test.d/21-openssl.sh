# shellcheck shell=bash
# Hook (sourced by infra/test.sh): openssl, with which tests/Teleport.Testing's TestCertificates makes the CAs and
# certificates of the NBD-over-TLS tests. Exports TELEPORT_OPENSSL.
need_packages openssl
TELEPORT_OPENSSL=$(command -v openssl)
export TELEPORT_OPENSSL
