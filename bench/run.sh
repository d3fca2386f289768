#!/bin/sh
# run.sh -- what `make bench` runs after building: every benchmark under
# bench/, one after the other. Each prints its figures next to its
# baseline; the output is also kept in bench/out/<name>.txt (git-ignored)
# so two runs can be compared with diff.
#
# Speed and memory targets live here, not in the test suite: timings
# depend on the machine, so they are printed for a person to judge, not
# asserted.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/bench/out
mkdir -p "$OUT"

# names of bench/<name>.sh, in order; `make bench-events` runs BENCHES=events,
# `make bench-scaleout` BENCHES=scaleout
BENCHES=${BENCHES:-export-memory perf}
status=0
for b in $BENCHES; do
    echo "== bench/$b.sh"
    # the pipeline's status is tee's; the benchmark's is kept in a file
    { rc=0; sh "$TOP/bench/$b.sh" || rc=$?; echo $rc >"$OUT/$b.rc"; } 2>&1 | tee "$OUT/$b.txt"
    rc=$(cat "$OUT/$b.rc" 2>/dev/null || echo 1)
    rm -f "$OUT/$b.rc"
    if [ "$rc" != 0 ]; then
        echo "run.sh: bench/$b.sh failed (exit $rc); its output is in bench/out/$b.txt" >&2
        status=1
    fi
done
exit $status
