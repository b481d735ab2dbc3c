#!/usr/bin/env bash
# The application part of `make demo`: examples/checkout-app reads its
# flags through ringmaster's OpenFeature provider and its ingest settings
# through the config watcher; a flag change applied with `ringmaster apply`
# reaches it as PROVIDER_CONFIGURATION_CHANGED, and it evaluates again.
# Usage: scripts/demo-app.sh RINGMASTER_BINARY WORK_DIR
set -euo pipefail
rm_bin=$1
work=$(realpath -m "$2")
go=${GO:-go}

rm -rf "$work"
mkdir -p "$work/repo"
cp -r examples/. "$work/repo/"
"$go" build -o "$work/checkout-app" ./examples/checkout-app
"$rm_bin" apply --repo "$work/repo" --env local --auto-approve >/dev/null

echo "-- start the application (it exits after one change)"
"$work/checkout-app" --root /ringmaster/local --changes 1 --timeout 60s >"$work/app.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  grep -q '^generation' "$work/app.log" && break
  kill -0 $pid 2>/dev/null || { cat "$work/app.log"; exit 1; }
  sleep 0.2
done
cat "$work/app.log"

echo "-- apply: checkout-v2 goes to 90% of users"
sed -i 's/\["on", 25\]/["on", 90]/; s/\["off", 75\]/["off", 10]/' "$work/repo/base/flags/checkout-v2.yaml"
"$rm_bin" apply --repo "$work/repo" --env local --auto-approve | tail -2

echo "-- what the application printed"
wait $pid
trap - EXIT
sed -n '/^changed in/,$p' "$work/app.log"
