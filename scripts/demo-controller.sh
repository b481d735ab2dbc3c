#!/usr/bin/env bash
# The controller part of `make demo`: a Git repository made from examples/,
# served to a controller as a file:// URL; a commit changes one entry and
# `ringmaster reconcile --wait` returns once the controller applied it.
# Usage: scripts/demo-controller.sh RINGMASTER_BINARY WORK_DIR
set -euo pipefail
rm_bin=$1
work=$(realpath -m "$2")
repo=$work/repo.git
clone=$work/clone
port=${RINGMASTER_DEMO_PORT:-9464}

rm -rf "$work"
mkdir -p "$work"
git init -q --bare -b main "$repo"
git clone -q "$repo" "$clone" 2>/dev/null
cp -r examples/. "$clone/"
git -C "$clone" add -A
git -C "$clone" -c user.name=demo -c user.email=demo@example.com commit -q -m "examples"
git -C "$clone" push -q origin main

echo "-- start the controller (its log: $work/controller.log)"
"$rm_bin" controller --repo "file://$repo" --branch main --env local --interval 30s \
  --listen "127.0.0.1:$port" >"$work/controller.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  kill -0 $pid 2>/dev/null || { cat "$work/controller.log"; exit 1; }
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz"

workers=$((RANDOM % 90 + 10))
echo "-- push a commit: ingest/workers = $workers"
sed -i "s/^  value: [0-9]*$/  value: $workers/" "$clone/base/config/ingest.yaml"
git -C "$clone" -c user.name=demo -c user.email=demo@example.com commit -q -am "ingest: $workers workers"
git -C "$clone" push -q origin main

echo "-- ask for a reconcile and wait for the answer"
"$rm_bin" reconcile --repo "$clone" --env local --wait --timeout 60s

echo "-- the controller's view"
"$rm_bin" status --repo "$clone" --env local | head -12
curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^ringmaster_(reconcile_total|controller_leader)'

echo "-- SIGTERM: the controller stops, releasing its leadership"
kill -TERM $pid
wait $pid
trap - EXIT
tail -3 "$work/controller.log"
