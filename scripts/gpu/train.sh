#!/usr/bin/env bash
# Second call on the same warm GPU machine (docs/TRAINING.md): train the four gpu-ft configs at
# once for MINUTES (both lr phases), exporting light checkpoints and logs to $OUT as they come.
# Needs /tmp/stage from scripts/gpu/stage.sh and the training photos carried as traindata/.
# Usage: CONFIGS='configs/gpu-ft2-*.json' bash scripts/gpu/train.sh MINUTES [RESUME_DIR]
# (CONFIGS defaults to the session-4 set configs/gpu-ft-*.json)
set -u
MIN=${1:?minutes}
[ -f /tmp/stage/home/vgg16-397923af.pth ] || { echo "no /tmp/stage: run scripts/gpu/stage.sh on this machine first"; exit 3; }
[ -d traindata/photos ] || { echo "traindata/ was not carried"; exit 3; }
ln -sfn "$PWD/traindata" /tmp/stage/shared/data/train
export SALICODEC_HOME=/tmp/stage/home SALICODEC_SHARED=/tmp/stage/shared PYTHONPATH=$PWD OMP_NUM_THREADS=3 PYTHONUNBUFFERED=1
python3 -m salicodec.training.parallel ${CONFIGS:-configs/gpu-ft-*.json} --runs /tmp/runs --minutes "$MIN" \
  --export "$OUT" ${2:+--resume-from "$2"}
rc=$?
for r in /tmp/runs/*/; do echo "== $r"; grep -E "^step" "$r/stdout.txt" | tail -2; done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
exit $rc
