#!/usr/bin/env bash
# The node-agent part of `make demo`: an agent per Cassandra node of the
# local cluster; a NodeSettings change applied with `ringmaster apply`
# reaches the dc2 node only, and `ringmaster members` shows the fleet.
# Usage: scripts/demo-agents.sh RINGMASTER_BINARY DEVCLUSTER_BINARY CLUSTER_DIR WORK_DIR
set -euo pipefail
rm_bin=$1
devcluster=$(realpath "$2")
cluster=$(realpath "$3")
work=$(realpath -m "$4")

rm -rf "$work"
mkdir -p "$work/repo"
cp -r examples/. "$work/repo/"
"$rm_bin" apply --repo "$work/repo" --env local --auto-approve >/dev/null

pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
for node in cass1:127.0.0.1 cass2:127.0.0.2; do
  name=${node%%:*} addr=${node#*:}
  echo "-- start the agent of $name (its log: $work/agent-$name.log)"
  "$rm_bin" agent --repo "$work/repo" --env local --node "$name" --cassandra "$addr" \
    --nodetool "$devcluster -dir $cluster nodetool $name" --check-interval 2s >"$work/agent-$name.log" 2>&1 &
  pids+=($!)
done

# converged N waits until N agents report the current generation applied.
converged() {
  for _ in $(seq 1 300); do
    if "$rm_bin" members --repo "$work/repo" --env local | grep -q "^converged: $1/$1 "; then return 0; fi
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { cat "$work"/agent-*.log; exit 1; }; done
    sleep 0.5
  done
  "$rm_bin" members --repo "$work/repo" --env local
  exit 1
}
converged 2
"$rm_bin" members --repo "$work/repo" --env local

mib=$((RANDOM % 40 + 20))
echo "-- apply: dc2's compaction_throughput = ${mib}MiB/s"
sed -i "s/compaction_throughput: [0-9]*MiB\/s/compaction_throughput: ${mib}MiB\/s/" "$work/repo/environments/local/settings.yaml"
"$rm_bin" apply --repo "$work/repo" --env local --auto-approve | tail -1
converged 2
"$rm_bin" members --repo "$work/repo" --env local | tail -2
echo "-- read back on each node with nodetool"
echo "cass1 (dc1): $("$devcluster" -dir "$cluster" nodetool cass1 getcompactionthroughput)"
echo "cass2 (dc2): $("$devcluster" -dir "$cluster" nodetool cass2 getcompactionthroughput)"

echo "-- SIGTERM: the agents stop and their membership goes"
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p"; done
trap - EXIT
"$rm_bin" members --repo "$work/repo" --env local | tail -3
