# shellcheck shell=bash
# Hook (sourced by infra/test.sh): promtool from Debian's prometheus package (its service is not started), which
# checks infra/prometheus/alerts.yml and runs its unit tests (tests/Teleport.Cli.Tests MonitoringFileTests).
# Exports TELEPORT_PROMTOOL.
need_packages prometheus
TELEPORT_PROMTOOL=$(command -v promtool) || die "promtool is not on PATH after installing prometheus"
export TELEPORT_PROMTOOL
