#!/bin/sh
# run.sh -- what `make run` runs after building: a demo httpd on
# 127.0.0.1:8080 (XPORT_PORT to change) with mod_xport from build/, the
# demo database run/app.db (conf/demo.sql + t/data/slow.sql) and storage
# under run/. It prints curl examples, stays in the foreground, and Ctrl-C
# stops it leaving nothing running.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
RUN=$TOP/run
PORT=${XPORT_PORT:-8080}
HTTPD=${HTTPD:-/usr/sbin/apache2}
RUN_USER=www-data

die() { echo "run.sh: $*" >&2; exit 1; }

[ -f "$TOP/build/mod_xport.so" ] || die "build/mod_xport.so is missing; run make first"
[ -x "$HTTPD" ] || die "$HTTPD not found; install apache2 (conf/deps.sh)"
MODULES=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)

if perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1",
        PeerPort => $ARGV[0], Timeout => 1) ? 0 : 1)' "$PORT"; then
    die "127.0.0.1:$PORT is in use; stop that server or set XPORT_PORT"
fi

mkdir -p "$RUN/storage"
if [ ! -f "$RUN/app.db" ] ||
    [ -n "$(find "$TOP/conf/demo.sql" "$TOP/t/data/slow.sql" -newer "$RUN/app.db")" ]; then
    echo "run.sh: creating the demo database run/app.db"
    rm -f "$RUN/app.db"
    sqlite3 -bail "$RUN/app.db" <"$TOP/conf/demo.sql"
    sqlite3 -bail "$RUN/app.db" <"$TOP/t/data/slow.sql"
fi

# The chat service demo (XportAPI qiscus): a database of its own.
if [ ! -f "$RUN/chat.db" ] || [ -n "$(find "$TOP/conf/chat-sqlite.sql" -newer "$RUN/chat.db")" ]; then
    echo "run.sh: creating the chat service demo database run/chat.db"
    rm -f "$RUN/chat.db" "$RUN/chat-empty.db"
    sqlite3 -bail "$RUN/chat.db" <"$TOP/conf/chat-sqlite.sql"
    # an empty instance of the same schema, to import backups into
    sed '/^INSERT INTO/,$d' "$TOP/conf/chat-sqlite.sql" | sqlite3 -bail "$RUN/chat-empty.db"
fi

# The terminology server demo (XportAPI ocl).
if [ ! -f "$RUN/ocl.db" ] || [ -n "$(find "$TOP/conf/ocl-sqlite.sql" -newer "$RUN/ocl.db")" ]; then
    echo "run.sh: creating the terminology server demo database run/ocl.db"
    rm -f "$RUN/ocl.db"
    sqlite3 -bail "$RUN/ocl.db" <"$TOP/conf/ocl-sqlite.sql"
fi

# The rules platform demo (XportAPI spark).
if [ ! -f "$RUN/spark.db" ] || [ -n "$(find "$TOP/conf/spark-sqlite.sql" -newer "$RUN/spark.db")" ]; then
    echo "run.sh: creating the rules platform demo database run/spark.db"
    rm -f "$RUN/spark.db"
    sqlite3 -bail "$RUN/spark.db" <"$TOP/conf/spark-sqlite.sql"
fi

USER_LINES="# (not root: httpd keeps running as $(id -un))"
if [ "$(id -u)" = 0 ]; then
    # httpd's children and the xport worker run as www-data: they must
    # reach run/ (a clone under /root would not be reachable).
    if ! runuser -u "$RUN_USER" -- test -x "$RUN"; then
        die "user $RUN_USER cannot reach $RUN (a parent directory is private);" \
            "clone the project somewhere readable, e.g. under /srv, or run make run as a normal user"
    fi
    chown -R "$RUN_USER:$RUN_USER" "$RUN"
    USER_LINES="User $RUN_USER
Group $RUN_USER"
fi

CONF=$RUN/httpd.conf
# awk, not sed: the user lines span two lines
awk -v run="$RUN" -v root="$TOP" -v port="$PORT" -v modules="$MODULES" \
    -v user="$USER_LINES" '{
        gsub(/@RUN@/, run); gsub(/@ROOT@/, root); gsub(/@PORT@/, port);
        gsub(/@MODULES@/, modules); sub(/^@USER@$/, user); print
    }' "$TOP/conf/httpd-run.conf.in" >"$CONF"

# The generated config reads no APACHE_* variable; clear Debian's so an
# inherited one cannot redirect lock or pid files.
unset APACHE_CONFDIR APACHE_RUN_DIR APACHE_LOCK_DIR APACHE_LOG_DIR \
    APACHE_PID_FILE APACHE_RUN_USER APACHE_RUN_GROUP APACHE_ARGUMENTS 2>/dev/null || true

"$HTTPD" -t -f "$CONF" >/dev/null 2>"$RUN/configtest.log" || {
    cat "$RUN/configtest.log" >&2
    die "the generated configuration $CONF does not load"
}

# Own process group, so stopping it takes the worker process along.
setsid "$HTTPD" -DFOREGROUND -f "$CONF" &
HPID=$!

stop() {
    trap - INT TERM EXIT
    kill -TERM "-$HPID" 2>/dev/null || true
    i=0
    while kill -0 "-$HPID" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.2
        i=$((i + 1))
    done
    kill -KILL "-$HPID" 2>/dev/null || true
    echo "run.sh: stopped" >&2
}
trap 'stop; exit 0' INT TERM
trap 'stop' EXIT

B="http://127.0.0.1:$PORT/xport"
cat <<EXAMPLES

mod_xport demo: httpd pid $HPID on http://127.0.0.1:$PORT/  (Ctrl-C stops it)
config $CONF, data run/app.db, storage run/storage

Try, in another shell:

  B=$B

  # 1. start an export (202 + Location); keep its id
  id=\$(curl -s -X POST "\$B/exports" -H 'Content-Type: application/json' \\
        -d '{"filter": "users\\nbots/has:coordinates", "format": "tar.gz"}' \\
        | grep -o '"id": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{32\}'); echo \$id

  # 2. poll it until "status" is "completed", or follow it as it changes
  curl -s "\$B/exports/\$id"
  curl -sN "\$B/exports/\$id/events"      # ends after its last event

  # 3. download it (the file name comes from Content-Disposition), list it
  curl -s -OJ "\$B/exports/\$id/download" && tar -tzvf export-demo-*.tar.gz

  # 4. list exports, newest first (Link and X-Total-Count headers)
  curl -si "\$B/exports?per_page=5"

  # 5. start a slow export (form fields work too) and cancel it
  id2=\$(curl -s -X POST "\$B/exports" -d 'filter=slow' \\
        | grep -o '"id": *"[0-9a-f]*"' | grep -o '[0-9a-f]\{32\}')
  curl -s -X PATCH "\$B/exports/\$id2" -H 'Content-Type: application/json' \\
        -d '{"status": "cancelled"}'

  # 6. delete the first export and its archive (204)
  curl -si -X DELETE "\$B/exports/\$id"

The chat service's backup and import API (run/chat.db, README "Chat
service API"); its API key goes in the QISCUS-SDK-SECRET header:

  C=http://chat.localhost:$PORT/api/v2.1/rest
  K='QISCUS-SDK-SECRET: qs-alpha-4f8e2c91d7b3a605'

  # 7. back up the comments of two days; keep unique_id
  uid=\$(curl -s -H "\$K" -X POST "\$C/exports" -d type=comments \\
        -d start_date=2026-03-21 -d end_date=2026-03-22 \\
        | grep -o '"unique_id":"[^"]*"' | cut -d'"' -f4); echo \$uid

  # 8. until "status" is "finished"; then fetch download_url (no key needed)
  curl -s -H "\$K" "\$C/exports/\$uid"
  url=\$(curl -s -H "\$K" "\$C/exports/\$uid" | grep -o '"download_url":"[^"]*"' | cut -d'"' -f4)
  curl -s -o comments.json "\$url"

  # 9. import it into the empty instance (insert-only: a second time fails)
  E=http://chat-empty.localhost:$PORT/api/v2.1/rest
  curl -s -H "\$K" -X POST "\$E/imports" -F type=comments -F file=@comments.json

The terminology server's repository-version export (run/ocl.db, README
"Terminology server API"), at ocl.localhost:$PORT/ocl and at that host's
root (its subscription clients count path segments from the host):

  O=http://ocl.localhost:$PORT
  T='Authorization: Token 652042b411a16673718d8f2a66109ff25fd5bff9'

  # 10. the versions of CIEL, newest first; export one (202), then 303
  curl -s -H "\$T" "\$O/orgs/CIEL/sources/CIEL/versions/"
  curl -si -H "\$T" -X POST "\$O/orgs/CIEL/sources/CIEL/v2016-08-22/export/"
  curl -si -H "\$T" "\$O/orgs/CIEL/sources/CIEL/v2016-08-22/export/"   # 204, later 303

  # 11. follow the 303 (a single-use link: no key needed)
  curl -sL -OJ -H "\$T" "\$O/orgs/CIEL/sources/CIEL/v2016-08-22/export/"

The rules platform's impex jobs (run/spark.db, README "Rules platform
API"): promote Pricing/Home 3.2.x from acme-dev to acme-prod:

  S=http://spark.localhost:$PORT/spark
  K='x-synthetic-key: sk-promote-7c1e4a9b2d8f3605'

  # 12. export it (200 and the status record); poll status_url until "closed"
  st=\$(curl -s -H "\$K" -H 'Content-Type: application/json' -X POST "\$S/acme-dev/api/v4/export" \\
        -d '{"inputs": {"services": ["Pricing/Home[3.2]"]}, "source_system": "demo"}' \\
        | grep -o '"status_url":"[^"]*"' | cut -d'"' -f4); echo \$st
  curl -s -H "\$K" "\$st"

  # 13. download outputs.files[0].file (no key needed) and check file_hash
  url=\$(curl -s -H "\$K" "\$st" | grep -o '"file":"[^"]*"' | cut -d'"' -f4)
  curl -s -o package.zip "\$url" && sha256sum package.zip && unzip -l package.zip

  # 14. import it into acme-prod as a new version of any service it has
  curl -s -H "\$K" -X POST "\$S/acme-prod/api/v4/import" -F file=@package.zip \\
        -F 'importRequestEntity={"services_existing": "add_version"}'
  curl -s -H "\$K" "\$S/acme-prod/api/v4/import/status"

EXAMPLES

wait "$HPID" || true
