#!/bin/sh
# Retrains everything from scratch with fixed seeds: the SLM and the LLM, the warm-up SFT,
# GRPO with the difficulty-aware and the simple reward, our departure (commands where the
# SLM is unsure, then the same GRPO), exports every stage into models/ (export_all.sh),
# checks each from Node, and prints the tables of RESULTS.md and docs/eval-results.md.
# Needs training/install-deps.sh first. Checkpoints and logs go to training/runs/.
set -eu
cd "$(dirname "$0")"
export OPENBLAS_NUM_THREADS=1
PY=/usr/bin/python3
mkdir -p runs
stage() { echo "== $(date -u +%H:%M:%S) $*"; }
UNSURE_STEPS=1800
UNSURE_GRPO_STEPS=100

if [ "${REUSE_LLM:-0}" = 1 ]; then
  # The LLM's pre-training is most of the time (about 50 of 85 minutes): reuse the shipped one
  # (its int8 weights, exactly what the evaluation runs anyway).
  stage 'pre-training the SLM; the LLM imported from models/relay-demo-llm (REUSE_LLM=1)'
  $PY import_onnx.py ../models/relay-demo-llm runs/llm_base.pt
  $PY train_base.py --layers 2 --dim 128 --heads 4 --steps 800 --batch 64 --lr 2e-3 --seed 1 --out runs/slm_base.pt > runs/slm_base.log 2>&1
  tail -n 1 runs/slm_base.log
else
  stage 'pre-training SLM and LLM (in parallel, one thread each)'
  $PY train_base.py --layers 2 --dim 128 --heads 4 --steps 800 --batch 64 --lr 2e-3 --seed 1 --out runs/slm_base.pt > runs/slm_base.log 2>&1 &
  SLM_PID=$!
  $PY train_base.py --layers 4 --dim 256 --heads 8 --steps 800 --batch 32 --lr 1.5e-3 --seed 2 --out runs/llm_stage1.pt > runs/llm_stage1.log 2>&1
  wait $SLM_PID
  # The LLM gets a second schedule: after the first it was behind the SLM (56% vs 70%).
  $PY train_base.py --layers 4 --dim 256 --heads 8 --steps 300 --batch 64 --lr 6e-4 --seed 3 --init runs/llm_stage1.pt \
    --out runs/llm_base.pt > runs/llm_stage2.log 2>&1
  tail -n 1 runs/slm_base.log runs/llm_stage1.log runs/llm_stage2.log
fi

stage 'warm-up SFT with inserted <call>N</call>'
$PY warmup.py --slm runs/slm_base.pt --out runs/slm_warmup.pt > runs/slm_warmup.log 2>&1
tail -n 1 runs/slm_warmup.log

stage 'data filter: questions the LLM solves in at least half of 10 samples'
$PY grpo.py --llm runs/llm_base.pt --pool-file runs/grpo_pool.json --make-pool

stage 'GRPO, difficulty-aware and simple reward (in parallel)'
$PY grpo.py --warmup runs/slm_warmup.pt --llm runs/llm_base.pt --pool-file runs/grpo_pool.json --reward simple \
  --out runs/slm_grpo_simple.pt > runs/grpo_simple.log 2>&1 &
GRPO_PID=$!
$PY grpo.py --warmup runs/slm_warmup.pt --llm runs/llm_base.pt --pool-file runs/grpo_pool.json --reward difficulty \
  --out runs/slm_grpo_difficulty.pt > runs/grpo_difficulty.log 2>&1
wait $GRPO_PID

stage 'departure: warm-up with commands where the SLM is unsure (shipped), then difficulty-aware GRPO on it (a row)'
# 1800 steps, not 300: with 300 the SLM lost its own arithmetic after a command in its context (69.6%; 900: 80.4%; 1800: 84.6%).
$PY warmup.py --slm runs/slm_base.pt --placement uncertain --steps $UNSURE_STEPS --out runs/slm_warmup_uncertain.pt > runs/slm_warmup_uncertain.log 2>&1
$PY grpo.py --warmup runs/slm_warmup_uncertain.pt --llm runs/llm_base.pt --pool-file runs/grpo_pool.json --reward difficulty \
  --steps $UNSURE_GRPO_STEPS --out runs/slm_grpo_difficulty_uncertain.pt > runs/grpo_difficulty_uncertain.log 2>&1

stage 'export every stage and check each from Node'
./export_all.sh

stage 'evaluation table (Python)'
$PY eval_relay.py --slm runs/slm_base.pt --llm runs/llm_base.pt --warmup runs/slm_warmup.pt \
  --grpo-simple runs/slm_grpo_simple.pt --grpo-difficulty runs/slm_grpo_difficulty.pt \
  --extra 'warm-up, commands where the SLM is unsure (departure; shipped)=runs/slm_warmup_uncertain.pt' \
  --extra 'same + GRPO difficulty-aware (departure)=runs/slm_grpo_difficulty_uncertain.pt' --json-out runs/eval.json

stage 'evaluation table (TypeScript engine, every stage)'
(cd .. && npm run build >/dev/null && node dist/cli.js eval --demo --modes paper --temperature 0.7 --seed 7 --span-tokens 1 --max-llm-share 1 --out training/runs/eval-paper)
stage done
