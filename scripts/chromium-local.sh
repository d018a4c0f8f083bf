#!/usr/bin/env bash
# Headless Chromium for the error browser's test (tests/test_browse.py drives it through selenium; it skips, saying
# why, where Chromium or chromedriver is missing).
#   scripts/chromium-local.sh install   Debian's chromium and chromium-driver (/usr/bin/chromium,
#                                       /usr/bin/chromedriver); CI runs this before `make test`. Needs root.
set -euo pipefail

usage() { echo "usage: $0 install" >&2; exit 2; }
[[ $# == 1 ]] || usage

case $1 in
    install)
        [[ $(id -u) == 0 ]] || { echo "chromium-local: apt-get needs root" >&2; exit 3; }
        export DEBIAN_FRONTEND=noninteractive
        # the package lists may be missing or stale on a fresh image: update once, only when the install fails
        apt-get install -y --no-install-recommends chromium chromium-driver \
            || { apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; } ;;
    *) usage ;;
esac
