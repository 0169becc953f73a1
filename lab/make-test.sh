#!/usr/bin/env bash
# `make test`: every check, in two lanes, then the cluster's verifiers, with each phase's
# time.
#   lane 1: lint, test-unit, test-app, then the cluster scenario up to its idempotence
#           run (in the foreground, output as it comes)
#   lane 2: molecule-production (beside lane 1; its output is in its log, printed when
#           it ends)
#   then:   the cluster's verifiers, the chaos suite last, and its destroy (alone: the
#           chaos stage needs the CPU)
# Converging hosts is mostly waiting on apt, pip, SSH and sudo; run beside other work, it
# costs the machine far less than its length. The prerequisites (venv, Docker, the lab
# image, the collection) are built first, once, so that the lanes never install the same
# thing at the same time. Every phase goes through make, for the environment the
# Makefile exports (the lab image's tag, the venv on PATH). `make molecule-cluster` runs
# the cluster scenario in one go.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.cache/make-test
mkdir -p "$logs"
rm -f "$logs"/*.time
start=$(date +%s)
PHASES=(prerequisites lint test-unit test-app molecule-production cluster-up cluster-verify)

# One phase: its status and seconds into $logs/<phase>.time.
phase() {
  local name=$1 began rc
  shift
  began=$(date +%s)
  echo "==> $name: $*"
  "$@"
  rc=$?
  echo "$name $(($(date +%s) - began)) $([ $rc -eq 0 ] && echo ok || echo FAILED)" >"$logs/$name.time"
  return $rc
}

report() {
  printf '\nmake test: phase times (lanes 1 and 2 ran at the same time)\n'
  for name in "${PHASES[@]}"; do
    [ -f "$logs/$name.time" ] && printf '  %-20s %5ss  %s\n' $(cat "$logs/$name.time")
  done
  printf '  %-20s %5ss\n' total $(($(date +%s) - start))
}

make_phase() { phase "$1" make --no-print-directory "$1"; }

if ! make_phase prerequisites; then report; exit 1; fi

make_phase molecule-production >"$logs/molecule-production.log" 2>&1 &
production=$!
echo "==> molecule-production: beside lane 1 (log: $logs/molecule-production.log)"

lane1=0
for name in lint test-unit test-app; do
  make_phase "$name" || { lane1=1; break; }
done
if [ $lane1 -eq 0 ]; then
  phase cluster-up make --no-print-directory molecule-cluster SCENARIO_PART="--until idempotence" || lane1=1
fi

wait "$production"
lane2=$?
echo "==> molecule-production's output:"
cat "$logs/molecule-production.log"

status=$((lane1 || lane2))
if [ $lane1 -eq 0 ]; then
  # The cluster is up: its verifiers, then its destroy (also when lane 2 failed).
  phase cluster-verify make --no-print-directory molecule-cluster SCENARIO_PART="--from verify" || status=1
fi
report
exit $status
