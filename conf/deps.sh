#!/bin/sh
# deps.sh -- make sure the Debian 12 packages mod_xport needs to build,
# run (`make run`), test (`make test`) and benchmark (`make bench`, `make
# load`, `make bench-events`: wrk, pigz, curl, sqlite3, perl) are installed. As
# root it installs what is missing (apt-get update first, only when
# something is missing); as a normal user it only checks and names what
# an administrator has to install.
set -eu

PACKAGES="apache2 apache2-dev apache2-utils libaprutil1-dbd-sqlite3
libaprutil1-dbd-pgsql libjansson-dev libarchive-dev libssl-dev libzstd-dev
zlib1g-dev libdeflate-dev libsqlite3-dev libpq-dev
libapache2-mod-perl2 libwww-perl libjson-pp-perl postgresql-15 sqlite3
zstd unzip zip tar cpio genisoimage curl wrk pigz pkg-config clang-14 libclang-rt-14-dev
chromium"

# Node.js and npm run the browser test's driver (t/browser/install.sh)
# and the OpenAPI validators (t/openapi-check.sh). Whichever node is on
# the PATH serves (a machine may have NodeSource's, whose nodejs package
# carries npm); without one, Debian's.
NODE_PACKAGES="nodejs npm"

missing=
for p in $PACKAGES; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$st" in
        ii*) ;;
        *) missing="$missing $p" ;;
    esac
done

# Node.js and npm: the OpenAPI validators and the browser test's driver
# of `make test` come from npm (t/openapi-check.sh, t/browser/install.sh).
# A node already installed (another build of it, say) is kept; without
# one, Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing $NODE_PACKAGES"
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: install them as root: apt-get install$missing" >&2
    exit 1
fi

echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# postgresql-15's package starts a system cluster; the tests start their
# own server and do not need it, so it is left as the package set it up.
