#!/usr/bin/env bash
# Runs shellcheck over every shell script under infra/ and kmod/: files named *.sh and files whose first line is a
# sh or bash shebang (infra/guest/init). Every level counts (error, warning, info, style): a finding fails.
# A finding the code is right about is silenced where it is, with `# shellcheck disable=SCxxxx  # why`.
#
# usage: infra/lint-shell.sh [--list]      (--list: print the files instead of checking them)
# Needs shellcheck (Debian package shellcheck; infra/test.sh installs it).
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

shell_scripts() {
    local file
    while IFS= read -r -d '' file; do
        if [[ $file == *.sh ]] || head -n 1 "$file" | grep -qE '^#!(/usr/bin/env )?/?([a-z/]*/)?(ba)?sh( |$)'; then
            printf '%s\n' "${file#./}"
        fi
    done < <(find infra kmod -type f ! -path '*/obj/*' ! -path '*/bin/*' -print0 | sort -z)
}

mapfile -t files < <(shell_scripts)
((${#files[@]} > 0)) || { echo "lint-shell.sh: no shell scripts found under infra/ and kmod/" >&2; exit 1; }
if [[ ${1:-} == --list ]]; then
    printf '%s\n' "${files[@]}"
    exit 0
fi
command -v shellcheck >/dev/null || { echo "lint-shell.sh: shellcheck is missing (apt-get install shellcheck)" >&2; exit 1; }
# -x follows `source` (the paths in `# shellcheck source=` are from the repository root, where this runs).
if shellcheck -x --severity=style --format=gcc "${files[@]}"; then
    echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p'): ${#files[@]} scripts, no findings"
else
    echo "shellcheck: findings above (in ${#files[@]} scripts under infra/ and kmod/)" >&2
    exit 1
fi
