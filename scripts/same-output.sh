#!/usr/bin/env bash
# Whether two llmzip binaries write the same bytes: a change meant only to make coding
# faster must not change one output byte. Compresses each case with both, compares the
# .llmz files, decodes each one with the other binary and compares with the input.
#
#   scripts/same-output.sh OLD NEW [quick|levels|all]
#
# quick: alice29 at -2 -3 -5, --mix-version 2..6 at -5 on its first 40 kB, the own texts of
# data/bench-texts at -5, one run with -j 2 --block-size 65536. levels: also alice29 at -1
# and -8. all: also 1 MiB of ../shared/corpus/valid.txt.xz at -5. Prints one line per case and ends
# non-zero if any differs. Needs ../shared/bench (alice29.txt); CPU-heavy: run it `nice`.
set -euo pipefail
old=$(realpath "$1")
new=$(realpath "$2")
mode=${3:-quick}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$root/../shared
tmp=$(mktemp -d /tmp/same-output.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
bad=0

# case NAME INPUT ARGS...: compress with both, cmp, cross-decode
case_() {
    local name=$1 input=$2
    shift 2
    "$old" -q compress -c "$@" "$input" >"$tmp/old.llmz"
    "$new" -q compress -c "$@" "$input" >"$tmp/new.llmz"
    local verdict=same
    if ! cmp -s "$tmp/old.llmz" "$tmp/new.llmz"; then
        verdict=DIFFERENT
    fi
    "$old" -q decompress -c "$tmp/new.llmz" >"$tmp/out1"
    "$new" -q decompress -c "$tmp/old.llmz" >"$tmp/out2"
    if ! cmp -s "$input" "$tmp/out1" || ! cmp -s "$input" "$tmp/out2"; then
        verdict="$verdict, CROSS-DECODE FAILED"
    fi
    [ "$verdict" = same ] || bad=1
    printf '%-40s %8d bytes  %s\n' "$name $*" "$(stat -c %s "$tmp/new.llmz")" "$verdict"
}

alice=$shared/bench/alice29.txt
head -c 40000 "$alice" >"$tmp/alice40k.txt"
levels="-2 -3 -5"
[ "$mode" != quick ] && levels="-1 -2 -3 -5 -8"
for l in $levels; do
    case_ alice29 "$alice" "$l"
done
for v in 2 3 4 5 6; do
    case_ alice40k "$tmp/alice40k.txt" -5 --mix-version "$v"
done
for f in "$root"/data/bench-texts/*; do
    [ "$(basename "$f")" = README.md ] && continue
    case_ "$(basename "$f")" "$f" -5
done
case_ alice29 "$alice" -5 -j 2 --block-size 65536
if [ "$mode" = all ]; then
    # xz ends on SIGPIPE once head has its bytes: not a failure under pipefail
    { xz -dc "$shared/corpus/valid.txt.xz" || true; } | head -c 1048576 >"$tmp/corpus1m.txt"
    case_ corpus-1MiB "$tmp/corpus1m.txt" -5
fi
exit $bad
