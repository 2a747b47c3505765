#!/bin/sh
# The "does it learn" run of issue 8: pipelines/gsm8k.yaml on the embedded
# gemma3-270m, sized for a 2-core machine that runs nothing else (~1,500 LLM
# calls + 10 train steps; about 90 minutes at ~20 calls/min). Durable and
# resumable: if it stops, `./bin/swirl.js worker` continues it, and rerunning
# this script with another id reuses every finished call from the ledger.
# Then: ./bin/swirl.js report "${1:-gsm8k-learn}" --markdown docs/pilots/gsm8k-gemma3-270m.md \
#   --preface docs/pilots/gsm8k-gemma3-270m-preface.md --command "scripts/does-it-learn.sh"
# (its page was docs/results.md until issue 19's run, scripts/finish-gsm8k-learn.sh, replaced it)
#
# SWIRL_EVAL_LIMIT=N evaluates on the first N of the 300 fixed test ids only
# (session 4 used 100: the machine made ~10 calls/min, too few for 2 x 300
# evaluations in one session).
#
# What differs from the file, and why: the one-shot prompt (the base model
# needs an example of the protocol), 64-token turns and 3-4 steps (time), 30
# training questions × 2 samples, training on every stored step (the process
# filter keeps ~1 step for this model), 10 RL iterations of 4 states × G=4 at
# lr 1e-4, and hour-long activity timeouts (session 3's attempt failed on the
# 30-minute default when the machine was starved).
exec ./bin/swirl.js run pipelines/gsm8k.yaml --id "${1:-gsm8k-learn}" \
  --set defaults.timeout=6h \
  --set stages.train-questions.limit=30 --set stages.train-questions.seed=1 \
  --set stages.rollouts.samples=2 --set stages.rollouts.maxSteps=4 --set stages.rollouts.shardSize=8 \
  --set stages.rollouts.prompt=prompts/gsm8k-one-shot.txt \
  --set models.policy.maxTokens=64 --set models.policy.contextSize=2048 \
  --set stages.trained.input=steps --set stages.trained.batchStates=4 \
  --set stages.trained.maxSteps=10 --set stages.trained.learningRate=0.0001 \
  --set stages.eval-base.maxSteps=3 --set stages.eval-swirl.maxSteps=3 \
  --set stages.eval-base.prompt=prompts/gsm8k-one-shot.txt \
  --set stages.eval-swirl.prompt=prompts/gsm8k-one-shot.txt \
  ${SWIRL_EVAL_LIMIT:+--set stages.test-questions.limit=$SWIRL_EVAL_LIMIT}
