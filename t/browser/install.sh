#!/bin/sh
# install.sh -- the browser tests' driver, playwright-core from npm, into
# build/npm-browser (nothing global, nothing in the source tree; a
# directory of its own, since npm prunes what another install put in a
# shared one). The browser is Debian's chromium (conf/deps.sh), never one
# downloaded by playwright. Run by t/run-tests.sh before the server suite
# when it includes t/42_manager.t; does nothing when the pinned version is
# there already.
#
#   sh t/browser/install.sh [DIR]
#
# Exits 0 when installed, 1 (saying why) when node, npm or the registry
# cannot be had.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-${XPORT_NPM_BROWSER:-$top/build/npm-browser}}

# Pinned: a new release may drive Chromium differently.
PKG=playwright-core@1.64.1

stamp=$dir/.xport-browser
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PKG" ] &&
    [ -f "$dir/node_modules/playwright-core/package.json" ]; then
    exit 0
fi
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install.sh: $tool is not installed (conf/deps.sh installs it as root)" >&2
        exit 1
    fi
done
mkdir -p "$dir" || exit 1
# no browser download: playwright-core never fetches one, and this says so
if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 NO_UPDATE_NOTIFIER=1 \
    npm install --prefix "$dir" --no-audit --no-fund --no-save \
    --loglevel=error "$PKG" >"$dir/install.log" 2>&1; then
    sed 's/^/install.sh: /' "$dir/install.log" >&2
    echo "install.sh: npm install $PKG failed" >&2
    exit 1
fi
printf '%s\n' "$PKG" >"$stamp"
echo "install.sh: $PKG installed in $dir" >&2
