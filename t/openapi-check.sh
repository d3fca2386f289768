#!/bin/sh
# openapi-check.sh -- validates the OpenAPI 3.1 documents of the four APIs
# (src/api/openapi/*.json) with two validators from npm, installed on first
# use into build/npm (nothing global, nothing in the source tree):
#
#   @seriousme/openapi-schema-validator (validate-api)
#       the document against the OpenAPI 3.1 JSON Schema, and every $ref
#       resolves;
#   @redocly/cli lint, rules in t/openapi-lint.yaml
#       what a JSON Schema cannot see: path parameters declared and used,
#       unique operationIds, security schemes defined, Schema Objects well
#       formed, and every example valid against its schema.
#
#   sh t/openapi-check.sh                      all four documents
#   sh t/openapi-check.sh src/api/openapi/ocl.json
#
# Prints "ok - <file>" or "not ok - <file>" (with the validators' output as
# "# " lines) per document, then "N passed, N failed"; exits 1 if any
# failed, 2 if the validators cannot be had (no node/npm, no registry).
#
# Environment:
#   XPORT_NPM_DIR   where the validators are installed (build/npm)
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
npm_dir=${XPORT_NPM_DIR:-$top/build/npm}
lint_config=$top/t/openapi-lint.yaml

# Pinned: a new release of either may judge the same document otherwise.
# (@redocly/cli 2.x after this one needs Node.js 22; Debian's is 20.)
# Ajv (with ajv-formats) is not used here: the server suite checks every
# response against the documents with it (t/lib/openapi-responses.js).
PKGS="@seriousme/openapi-schema-validator@2.11.0 @redocly/cli@2.77.0 ajv@8.20.0 ajv-formats@3.0.1"

# No telemetry, update checks or banners from the linter.
REDOCLY_TELEMETRY=off
REDOCLY_SUPPRESS_UPDATE_NOTICE=true
REDOCLY_SUPPRESS_NOTIFICATIONS=true
NO_UPDATE_NOTIFIER=1
export REDOCLY_TELEMETRY REDOCLY_SUPPRESS_UPDATE_NOTICE \
    REDOCLY_SUPPRESS_NOTIFICATIONS NO_UPDATE_NOTIFIER

bail() {
    echo "Bail out! $*"
    exit 2
}

# Install the validators unless this exact set is there already.
install_validators() {
    stamp=$npm_dir/.xport-openapi-check
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PKGS" ] &&
        [ -x "$npm_dir/node_modules/.bin/validate-api" ] &&
        [ -x "$npm_dir/node_modules/.bin/redocly" ] &&
        [ -f "$npm_dir/node_modules/ajv/dist/2020.js" ] &&
        [ -f "$npm_dir/node_modules/ajv-formats/package.json" ]; then
        return 0
    fi
    command -v node >/dev/null 2>&1 || bail "node is not installed (apt-get install nodejs npm)"
    command -v npm >/dev/null 2>&1 || bail "npm is not installed (apt-get install npm)"
    mkdir -p "$npm_dir" || bail "cannot create $npm_dir"
    # shellcheck disable=SC2086 # PKGS is a list
    if ! npm install --prefix "$npm_dir" --no-audit --no-fund --no-save \
        --loglevel=error $PKGS >"$npm_dir/install.log" 2>&1; then
        sed 's/^/# /' "$npm_dir/install.log"
        bail "npm install of $PKGS failed"
    fi
    printf '%s\n' "$PKGS" >"$stamp"
}

# check FILE: 0 if both validators accept it; their output in $out.
check() {
    out=$(mktemp) || bail "mktemp failed"
    status=0
    if ! node "$npm_dir/node_modules/.bin/validate-api" "$1" >"$out.1" 2>&1; then
        status=1
        echo "validate-api (OpenAPI 3.1 schema):" >>"$out"
        cat "$out.1" >>"$out"
    fi
    if ! node "$npm_dir/node_modules/.bin/redocly" lint --config "$lint_config" \
        --format stylish "$1" >"$out.2" 2>&1; then
        status=1
        echo "redocly lint:" >>"$out"
        cat "$out.2" >>"$out"
    fi
    rm -f "$out.1" "$out.2"
    return $status
}

install_validators

if [ $# -eq 0 ]; then
    set -- "$top/src/api/openapi/native.json" "$top/src/api/openapi/qiscus.json" \
        "$top/src/api/openapi/ocl.json" "$top/src/api/openapi/spark.json"
fi

echo "1..$#"
passed=0
failed=0
for f in "$@"; do
    name=${f#"$top"/}
    if [ ! -f "$f" ]; then
        echo "not ok - $name"
        echo "# no such file"
        failed=$((failed + 1))
        continue
    fi
    if check "$f"; then
        echo "ok - $name"
        passed=$((passed + 1))
    else
        echo "not ok - $name"
        sed 's/^/# /' "$out"
        failed=$((failed + 1))
    fi
    rm -f "$out"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
