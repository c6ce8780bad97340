#!/usr/bin/env bash
# Here: put a unit brought back in parts into the run folder, checked against its sha256.
# Usage: bash scripts/gpu/receive.sh UNIT_DIR FOLDER...  (the folders the calls' files came back
# in, e.g. runs/ev/units/qa/at-n8016/seed0 DOWNLOAD_1 DOWNLOAD_2)
set -euo pipefail
unit=$1; shift
[ -e "$unit" ] && { echo "error: $unit exists; not overwriting it" >&2; exit 2; }
small=""; parts=()
for d in "$@"; do [ -f "$d/small.tar" ] && small=$d; done
[ -n "$small" ] || { echo "error: no small.tar in $*" >&2; exit 2; }
for i in 0 1 2 3 4 5 6 7 8 9; do for d in "$@"; do [ -f "$d/w$i" ] && parts+=("$d/w$i"); done; done
mkdir -p "$unit"
tar -C "$unit" -xf "$small/small.tar"
cat "${parts[@]}" > "$unit/model/model.safetensors"
echo "$(cat "$small/sha")  $unit/model/model.safetensors" | sha256sum -c
