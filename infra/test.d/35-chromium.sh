# shellcheck shell=bash
# Hook (sourced by infra/test.sh): Debian's chromium, the headless browser the dashboard's tests drive through
# Playwright for .NET (nothing is downloaded: Playwright is pointed at this binary). Exports TELEPORT_CHROMIUM.
need_packages chromium
TELEPORT_CHROMIUM=$(command -v chromium || true)
[[ -x $TELEPORT_CHROMIUM ]] || die "chromium is installed but not on PATH"
# Playwright must never fetch browsers of its own.
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export TELEPORT_CHROMIUM PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD
