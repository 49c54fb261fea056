#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds, and runs every test with meson.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tests/bootstrap.sh"
meson test -C "${AUTHTAP_BUILD_DIR:-$root/build}" --print-errorlogs "$@"
