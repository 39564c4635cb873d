#!/usr/bin/env bash
# Installs what deltac needs on Debian 12 and is missing. Safe to run again.
set -euo pipefail
pkgs=(cmake ninja-build ccache python3 clang-22 lld-22 libclang-rt-22-dev
      llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
      libcli11-dev libfmt-dev libgtest-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
