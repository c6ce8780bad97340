#!/usr/bin/env bash
# System packages sua needs beyond PyPI: WordNet 3.0 for the synonym perturbations (sua.perturb),
# and Debian's headless Chromium for the browser tests of `sua explore` and `sua report`.
# Idempotent: returns at once when everything is installed. Needs root (or sudo) and apt.
set -euo pipefail
packages=(wordnet-base wordnet-sense-index chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
