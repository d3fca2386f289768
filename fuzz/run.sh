#!/bin/sh
# run.sh -- run the libFuzzer targets built by `make fuzz`.
#
#   run.sh run SECONDS TARGET...   fuzz each target for SECONDS, two at a
#                                  time; exit 1 if any found a crash, a
#                                  leak, UB or a time-out
#   run.sh regress [TARGET...]     replay every file of fuzz/regress/<t>/
#                                  and fuzz/corpus/<t>/ once per target
#                                  (all targets by default; skipped with a
#                                  note when they are not built)
#   run.sh one SECONDS TARGET      (internal) one bounded run
#
# A bounded run starts from the seed corpus and the regression inputs,
# writes what it learns to $FUZZ_DIR/work/<t>/ (not into the repository),
# keeps a failing input in $FUZZ_DIR/crashes/<t>/ and its log in
# $FUZZ_DIR/logs/<t>.log. To keep a crash as a regression test, copy the
# input to fuzz/regress/<t>/ once the bug is fixed.
set -eu

FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
SRC=$(cd "$(dirname "$0")" && pwd)
PARALLEL=${FUZZ_PARALLEL:-2}
ALL="filter manifest ndjson entryname multipart areader"

say() { printf '%s\n' "fuzz: $*" >&2; }

# libFuzzer options per target: the largest input worth trying.
max_len() {
    case $1 in
        entryname) echo 512 ;;
        filter) echo 2048 ;;
        *) echo 16384 ;;
    esac
}

one() {
    secs=$1 t=$2
    bin=$FUZZ_DIR/fuzz_$t
    work=$FUZZ_DIR/work/$t
    crashes=$FUZZ_DIR/crashes/$t
    log=$FUZZ_DIR/logs/$t.log
    mkdir -p "$work" "$crashes" "$FUZZ_DIR/logs"
    set -- "$work" "$SRC/corpus/$t"
    [ -d "$SRC/regress/$t" ] && set -- "$@" "$SRC/regress/$t"
    [ -f "$SRC/$t.dict" ] && set -- "$@" "-dict=$SRC/$t.dict"
    # -timeout: one input taking seconds is a hang worth reporting;
    # leaks are reported at the end of each input (detect_leaks default)
    if "$bin" "$@" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$crashes/" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        say "$t: ok, ${runs:-?} inputs in ${secs}s, $cov"
        return 0
    fi
    say "$t: FAILED, see $log; input(s) in $crashes/:"
    ls "$crashes" >&2
    grep -m 3 -E 'ERROR|SUMMARY|contract broken' "$log" >&2 || true
    return 1
}

run() {
    secs=$1
    shift
    [ $# -gt 0 ] || set -- $ALL
    # xargs runs $PARALLEL at a time and exits non-zero if any failed
    printf '%s\n' "$@" | xargs -P "$PARALLEL" -I{} sh "$0" one "$secs" {}
}

regress() {
    rc=0
    [ $# -gt 0 ] || set -- $ALL
    if [ ! -x "$FUZZ_DIR/fuzz_$1" ]; then
        say "targets not built (make fuzz needs clang), regression inputs skipped"
        return 0
    fi
    for t in "$@"; do
        set --
        for f in "$SRC/regress/$t"/* "$SRC/corpus/$t"/*; do
            [ -f "$f" ] && set -- "$@" "$f"
        done
        [ $# -gt 0 ] || continue
        if "$FUZZ_DIR/fuzz_$t" -timeout=10 "$@" >"$FUZZ_DIR/regress-$t.log" 2>&1; then
            say "$t: $# inputs replayed, ok"
        else
            say "$t: FAILED replaying inputs, see $FUZZ_DIR/regress-$t.log"
            grep -m 3 -E 'ERROR|SUMMARY|contract broken|Running' \
                "$FUZZ_DIR/regress-$t.log" >&2 || true
            rc=1
        fi
    done
    return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    run) run "$@" ;;
    one) one "$@" ;;
    regress) regress "$@" ;;
    *)
        say "usage: run.sh run SECONDS TARGET... | regress TARGET..."
        exit 2
        ;;
esac
