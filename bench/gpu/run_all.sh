#!/usr/bin/env bash
# The four GPU training benchmarks, one after another, where a GPU is lent:
#   bash bench/gpu/run_all.sh                      # bench/results/gpu_{crnn,layoutlmv3,trocr,paddleocr_vl}.json
#   bash bench/gpu/run_all.sh --quick              # tiny shapes on the GPU: a plumbing check (*.quick.json)
#   bash bench/gpu/run_all.sh --cpu-smoke --quick  # no GPU: the code path on the CPU (*.cpu_smoke.quick.json)
# Every argument goes to every script (so only the options all four take: --quick, --cpu-smoke,
# --strategies, --devices, --precision, --warmup, --steps, --batch-size, --num-workers, --override).
# PYTHON picks the interpreter (default: .venv/bin/python, else python3). Exit status: 2 when no CUDA
# GPU is visible (and no --cpu-smoke), 1 when a script failed or one of its runs did, else 0.
set -u
cd "$(dirname "$0")/../.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
smoke=0
for arg in "$@"; do [ "$arg" = "--cpu-smoke" ] && smoke=1; done
if [ "$smoke" = 0 ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 2)'; then
  echo "run_all.sh: no CUDA GPU is visible: the GPU benchmarks do not run here (--cpu-smoke runs their code path on the CPU)" >&2
  exit 2
fi
failed=()
start_all=$SECONDS
# the largest model last: if the machine's time runs out, the others have their results
for family in crnn layoutlmv3 trocr paddleocr_vl; do
  echo "=== bench/gpu/$family.py $*"
  start=$SECONDS
  "$PY" "bench/gpu/$family.py" "$@"
  rc=$?
  echo "=== $family: exit $rc after $((SECONDS - start)) s"
  [ "$rc" -ne 0 ] && failed+=("$family (exit $rc)")
done
echo "=== all four: $((SECONDS - start_all)) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "run_all.sh: failed: ${failed[*]}" >&2
  exit 1
fi
