#!/usr/bin/env bash
# Runs libFuzzer harnesses: each for SECONDS from its seed corpus (fuzz/corpus/NAME, copied: the
# corpus it grows stays out of the tree), then every regression input (fuzz/regressions/NAME/*),
# and prints one line per harness. Exits non-zero when one crashed; the input that did is kept
# under build/fuzz/crashes/NAME/ and named in the output.
#   scripts/fuzz.sh SECONDS build/fuzz/fuzz_x ...
# FUZZ_JOBS (1) harnesses run at once; each prints its line, and what went wrong, when it ends.
set -uo pipefail
seconds=$1
shift
top=$(cd "$(dirname "$0")/.." && pwd)
at_once=${FUZZ_JOBS:-1}
verdicts=$(mktemp -d)
trap 'rm -rf "$verdicts"' EXIT

# One harness: its corpus run, then its regression inputs. Writes $verdicts/NAME.failed on failure.
run_harness() {
	local harness=$1 name work crashes dict status runs speed features coverage verdict regressions
	name=$(basename "$harness")
	work=$(mktemp -d)
	crashes="$top/build/fuzz/crashes/$name"
	mkdir -p "$work/corpus" "$crashes"
	[ -d "$top/fuzz/corpus/$name" ] && cp "$top/fuzz/corpus/$name"/* "$work/corpus/" 2>/dev/null
	dict=()
	[ -f "$top/fuzz/$name.dict" ] && dict=(-dict="$top/fuzz/$name.dict")
	# Memory and time per input are bounded, so a harness that hangs or grows is a finding too.
	"$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$crashes/" "${dict[@]}" "$work/corpus" >"$work/log" 2>&1
	status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
	features=$(grep -o 'ft: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
	coverage=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
	verdict="0 crashes"
	if [ $status -ne 0 ]; then
		verdict="CRASHED: $(ls -t "$crashes" | head -1) in build/fuzz/crashes/$name"
		tail -40 "$work/log" >&2
		touch "$verdicts/$name.failed"
	fi
	regressions=0
	if [ -d "$top/fuzz/regressions/$name" ] && [ -n "$(ls "$top/fuzz/regressions/$name")" ]; then
		if "$harness" "$top/fuzz/regressions/$name"/* >"$work/regressions.log" 2>&1; then
			regressions=$(ls "$top/fuzz/regressions/$name" | wc -l)
		else
			tail -40 "$work/regressions.log" >&2
			verdict="$verdict; a regression input fails again"
			touch "$verdicts/$name.failed"
		fi
	fi
	printf 'fuzz: %-16s %10s executions %8s exec/s  cov %5s  ft %6s  %s regression inputs  %s\n' \
		"$name" "${runs:-0}" "${speed:-0}" "${coverage:-0}" "${features:-0}" "$regressions" "$verdict"
	rm -rf "$work"
}

for harness in "$@"; do
	while [ "$(jobs -rp | wc -l)" -ge "$at_once" ]; do
		wait -n
	done
	run_harness "$harness" &
done
wait
[ -z "$(ls "$verdicts")" ]
