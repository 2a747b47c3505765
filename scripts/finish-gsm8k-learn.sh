#!/bin/bash
# Issue 19's outputs from a finished gsm8k-learn run: docs/results.md (+ its curves SVG),
# docs/results.json, the run's HTML report, the SWiRL arm's adapter under results/, and
# pipelines/gsm8k-eval-adapter.yaml pointed at it.
#   SWIRL_STATE_DIR=/work/runs/gsm8k-learn-2 scripts/finish-gsm8k-learn.sh gsm8k-learn-2 [preface.md]
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: finish-gsm8k-learn.sh RUN_ID [PREFACE]}
preface=${2:-docs/results-preface-gsm8k-learn.md}
swirl() { node bin/swirl.js "$@"; }
# The run's history lives in its state dir's embedded server: start it when it is down
# (a no-op when it runs), and stop it again at the end if this script started it.
if ! swirl server status >/dev/null 2>&1; then
  swirl server start >/dev/null
  trap 'node bin/swirl.js server stop >/dev/null' EXIT
fi
status=$( (swirl status "$run" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j.status ?? (j.error ? j.error.code + ": " + j.error.message : "unknown"))})') || true)
if [ "$status" != "COMPLETED" ]; then
  echo "run $run is $status, not COMPLETED: resume it first (swirl run pipelines/gsm8k-learn.yaml --id $run)" >&2
  exit 1
fi
swirl report "$run" --markdown docs/results.md --preface "$preface" --results-json docs/results.json \
  --out "docs/results-$run.html" --open never \
  --command "npm run setup -- --models qwen2.5-coder-1.5b" \
  --command "SWIRL_TRAINER_THREADS=1 SWIRL_LLAMA_THREADS=1 swirl run pipelines/gsm8k-learn.yaml --id $run" \
  --command "swirl report $run --markdown docs/results.md --preface $preface --results-json docs/results.json"
out="results/$run-swirl"
if [ ! -e "$out/adapter.gguf" ]; then swirl export "$run" --stage swirl --adapter-only --out "$out"; fi
# The check-it-yourself spec evaluates this adapter by default.
sed -i "s#^    adapter: .*#    adapter: ../$out/adapter.gguf#" pipelines/gsm8k-eval-adapter.yaml
node bin/swirl.js validate pipelines/gsm8k-eval-adapter.yaml
# The spec's golden plan pins the adapter's path and sha256 (tests/unit/spec-fixtures.test.ts).
npm run -s golden
git status --short tests/fixtures/plans
ls -la "$out" docs/results.md docs/results.json "docs/results-$run.html"
sha256sum "$out/adapter.gguf"
