#!/usr/bin/env bash
# `make test`: every check, in two lanes, then the cluster, with each phase's time.
#   lane 1: lint, test-unit, test-app        (in the foreground, output as it comes)
#   lane 2: molecule-production              (beside lane 1; output in its log, printed
#                                             when it ends)
#   then:   molecule-cluster                 (alone: its chaos stage needs the CPU)
# The production scenario spends most of its time waiting on SSH, apt and sudo; run
# beside the Docker-free checks, it costs the machine far less than its length. The
# prerequisites (venv, Docker, the lab image, the collection) are built first, once, so
# that the lanes never install the same thing at the same time.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.cache/make-test
mkdir -p "$logs"
rm -f "$logs"/*.time
start=$(date +%s)

# One phase: its status and seconds into $logs/<phase>.time.
phase() {
  local name=$1 began rc
  began=$(date +%s)
  echo "==> make $name"
  make --no-print-directory "$name"
  rc=$?
  echo "$name $(($(date +%s) - began)) $([ $rc -eq 0 ] && echo ok || echo FAILED)" >"$logs/$name.time"
  return $rc
}

report() {
  printf '\nmake test: phase times\n'
  for name in prerequisites lint test-unit test-app molecule-production molecule-cluster; do
    [ -f "$logs/$name.time" ] && printf '  %-20s %5ss  %s\n' $(cat "$logs/$name.time")
  done
  printf '  %-20s %5ss  (lanes 1 and 2 ran at the same time)\n' total $(($(date +%s) - start))
}

if ! phase prerequisites; then report; exit 1; fi

phase molecule-production >"$logs/molecule-production.log" 2>&1 &
production=$!
echo "==> make molecule-production: beside lint and the tests (log: $logs/molecule-production.log)"

lane1=0
for name in lint test-unit test-app; do
  phase "$name" || { lane1=1; break; }
done

wait "$production"
lane2=$?
echo "==> molecule-production's output:"
cat "$logs/molecule-production.log"

status=$((lane1 || lane2))
if [ $status -eq 0 ]; then
  phase molecule-cluster || status=1
fi
report
exit $status
