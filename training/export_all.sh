#!/bin/sh
# Exports every checkpoint of retrain.sh into model folders and checks each from Node:
# the shipped pair (models/relay-demo-slm, models/relay-demo-llm) and the SLM of every
# training stage (models/ablations/*, for `relay eval --demo --modes paper`; not packaged).
set -eu
cd "$(dirname "$0")"
export OPENBLAS_NUM_THREADS=1
PY=/usr/bin/python3
export_one() { # checkpoint folder role description
  $PY export_model.py --checkpoint "$1" --folder "$2" --role "$3" --describe "$4" --reference-out "runs/reference-$(basename "$2").json"
  (cd .. && node training/verify_onnx.mjs "training/$2" "training/runs/reference-$(basename "$2").json")
}
export_one runs/slm_warmup_uncertain.pt ../models/relay-demo-slm slm 'warm-up, commands where the SLM is unsure (departure; shipped)'
export_one runs/llm_base.pt ../models/relay-demo-llm llm 'pre-trained LLM'
export_one runs/slm_base.pt ../models/ablations/slm-base slm-base 'base SLM, before relay training'
export_one runs/slm_warmup.pt ../models/ablations/slm-warmup slm 'warm-up only (paper: commands at random positions)'
export_one runs/slm_grpo_simple.pt ../models/ablations/slm-grpo-simple slm 'warm-up + GRPO, simple reward (paper)'
export_one runs/slm_grpo_difficulty.pt ../models/ablations/slm-grpo-difficulty slm 'warm-up + GRPO, difficulty-aware reward (paper)'
export_one runs/slm_grpo_difficulty_uncertain.pt ../models/ablations/slm-unsure-grpo-difficulty slm 'departure warm-up + GRPO, difficulty-aware reward'
$PY relay_task.py ../models/relay-demo-eval.jsonl
du -sh ../models/relay-demo-slm ../models/relay-demo-llm ../models/ablations
