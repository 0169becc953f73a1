#!/usr/bin/env bash
# Runs one Molecule scenario phase by phase, in the order of its molecule.yml's
# test_sequence, and prints how long each phase took. The last phase, destroy, runs
# whether the others passed or not.
# State goes to .cache/molecule/<scenario>, never shared with other projects' runs.
# The scenario's containers are destroyed at the end, whether it passed or not.
#
# A run in two parts (make test's lanes, lab/make-test.sh), with the state kept between:
#   molecule/run-scenario.sh SCENARIO --until PHASE   the phases up to PHASE; the
#                                                     containers stay up, unless one failed
#   molecule/run-scenario.sh SCENARIO --from PHASE    PHASE and the rest, then destroy
set -uo pipefail
usage="usage: molecule/run-scenario.sh SCENARIO [--until PHASE | --from PHASE]"
scenario=${1:?$usage}
part=${2:-}
part_phase=${3:-}
case "$part" in
  "" | --until | --from) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
[ -z "$part" ] || [ -n "$part_phase" ] || { echo "$usage" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export MOLECULE_EPHEMERAL_DIRECTORY="$root/.cache/molecule/$scenario"
mkdir -p "$MOLECULE_EPHEMERAL_DIRECTORY"
log_dir="$root/.cache/molecule/logs"
mkdir -p "$log_dir"

# The facefleet.fleet collection under test: the release `make collection` built from this
# checkout, installed offline into a temporary folder, as an operator installs it. The
# scenarios that deploy with it read FACEFLEET_COLLECTIONS_PATH (molecule.yml).
collections=$(mktemp -d)
trap 'rm -rf "$collections"' EXIT
tarball=$(ls -t .cache/dist/facefleet-fleet-*.tar.gz 2>/dev/null | head -n 1)
[ -n "$tarball" ] || { echo "run-scenario: no collection tarball in .cache/dist: run make collection" >&2; exit 1; }
(cd "$collections" && env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$collections" \
  ansible-galaxy collection install --offline -p "$collections" "$root/$tarball" >/dev/null) \
  || { echo "run-scenario: cannot install $tarball" >&2; exit 1; }
export FACEFLEET_COLLECTIONS_PATH="$collections"
echo "==> facefleet.fleet from $tarball, installed in $collections"

rm -f "$log_dir/$scenario"-*.report
declare -a report=()
status=0
run_phase() {
  local phase=$1 start end log="$log_dir/$scenario-$1.log"
  start=$(date +%s)
  printf '==> molecule %s -s %s\n' "$phase" "$scenario"
  if molecule "$phase" -s "$scenario" >"$log" 2>&1; then
    end=$(date +%s); report+=("$(printf '%-12s %5ss  ok' "$phase" $((end - start)))")
  else
    end=$(date +%s); report+=("$(printf '%-12s %5ss  FAILED (log: %s)' "$phase" $((end - start)) "$log")")
    tail -n 60 "$log"
    status=1
  fi
}

# Containers of this scenario left by a run whose state is gone (another clone, a killed
# run): remove them by name, so `create` starts clean. Only this scenario's platforms.
# Not when a run goes on from a phase: its containers are the ones under test.
[ "$part" = --from ] || for name in $(python3 -c 'import sys, yaml; print(" ".join(p["name"] for p in yaml.safe_load(open(sys.argv[1]))["platforms"]))' "molecule/$scenario/molecule.yml"); do
  if docker container inspect "$name" >/dev/null 2>&1; then
    echo "==> removing leftover container $name"
    docker rm -f "$name" >/dev/null
  fi
done

read -r -a phases <<<"$(python3 -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["scenario"]["test_sequence"]))' "molecule/$scenario/molecule.yml")"
last=$((${#phases[@]} - 1))  # the final destroy
first=0
stop=$last
if [ -n "$part" ]; then
  at=-1
  for i in $(seq 0 $((last - 1))); do [ "${phases[$i]}" = "$part_phase" ] && at=$i; done
  [ "$at" -ge 0 ] || { echo "run-scenario: $scenario has no phase $part_phase before its last" >&2; exit 2; }
  if [ "$part" = --until ]; then stop=$((at + 1)); else first=$at; fi
fi
total_start=$(date +%s)
for phase in "${phases[@]:first:stop-first}"; do
  run_phase "$phase"
  [ "$status" -eq 0 ] || break
done
# The final destroy: always, except after the first part of a run that passed. Once more
# if it failed: it only removes containers and networks, and dockerd under load can miss
# one answer. The report keeps the first failure.
if [ "$part" != --until ] || [ "$status" -ne 0 ]; then
  before=$status
  run_phase "${phases[$last]}"
  if [ "$status" -ne "$before" ]; then
    echo "==> the destroy failed; once more"
    first_log="$log_dir/$scenario-${phases[$last]}-first.log"
    cp "$log_dir/$scenario-${phases[$last]}.log" "$first_log"
    report[-1]="${report[-1]/(log: *)/(log: $first_log)}"
    status=$before
    run_phase "${phases[$last]}"
  fi
fi
# Figures a verifier left for the reader (the cluster's chaos table).
for figures in "$log_dir/$scenario"-*.report; do
  if [ -f "$figures" ]; then printf '\n%s:\n' "$figures"; cat "$figures"; fi
done
printf '\nmolecule scenario %s: phase times\n' "$scenario"
printf '  %s\n' "${report[@]}"
printf '  %-12s %5ss\n' total $(( $(date +%s) - total_start ))
exit "$status"
