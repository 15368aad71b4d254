#!/usr/bin/env bash
# Set up ocrlab on a fresh Debian/Ubuntu machine: system packages (the Thai typeface pool: TLWG,
# Arundina, Noto; Tesseract for the baseline), then a virtual environment in .venv with the
# project installed (editable) and all extras. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(fonts-thai-tlwg fonts-arundina fonts-noto-core fonts-ipaexfont-gothic tesseract-ocr tesseract-ocr-tha tesseract-ocr-eng)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "[setup] apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[setup] warning: cannot install ${missing[*]} (no root/apt): the Tesseract baseline and system Thai fonts will be missing" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "[setup] pip install -e .[all]"
.venv/bin/python -m pip install -q -e ".[all]"
.venv/bin/python -c "import ocrlab, torch, pytorch_lightning, hydra; print(f'[setup] ok: torch {torch.__version__}, lightning {pytorch_lightning.__version__}')"
