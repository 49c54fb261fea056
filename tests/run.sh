#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds, and runs every test with meson.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# With --all, or in CI, tests/sanitize.sh follows: fuzzing, ASan+UBSan,
# TSan and valgrind, each in a build directory of its own.
all=false
[[ ${CI:-} == true ]] && all=true
args=()
for a in "$@"; do
	if [[ $a == --all ]]; then all=true; else args+=("$a"); fi
done

"$root/tests/bootstrap.sh"
meson test -C "${AUTHTAP_BUILD_DIR:-$root/build}" --print-errorlogs "${args[@]}"
if $all; then
	"$root/tests/sanitize.sh"
fi
