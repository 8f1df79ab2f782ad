#!/usr/bin/env bash
# One call on the lent GPU machine (docs/TRAINING.md, "The DPL search on Kodak"): the latent
# search with the paper's MSE + DPL distortion for every Kodak image and model, on the GPU; the
# chosen symbols go to $OUT/<model>.npz (benchmarks/analyse_images.py), to be range-coded here by
# `salicodec eval … --analyses DIR`. Needs gpukodak/ carried (VGG-16 in fp16, the LPIPS weights,
# Kodak, its saliency masks) and the models' zoo files (KEEP_MODELS=… scripts/gpu/slim.sh hold).
# Usage: MODELS='sali-gpu-0.67-v5 …' bash scripts/gpu/analyse.sh MINUTES [STEPS] [RESUME_DIR]
set -eu
MIN=${1:?minutes}
STEPS=${2:-100}
[ -d gpukodak/kodak ] || { echo "gpukodak/ was not carried"; exit 3; }
home=/tmp/analyse-home
rm -rf "$home" && mkdir -p "$home" && cp gpukodak/home/* "$home"/
python3 - "$home" <<'PY'
import sys, torch
# The 64 MiB carry limit: VGG-16 travels in fp16 and is widened back to float32 here, in the
# torchvision layout that salicodec.metrics.backbones prefers when it is in the cache.
s = torch.load("gpukodak/vgg16_features_fp16.pt", weights_only=True)
torch.save({k: v.float() for k, v in s.items()}, sys.argv[1] + "/vgg16-397923af.pth")
PY
export SALICODEC_HOME=$home SALICODEC_SHARED=/tmp/no-shared PYTHONPATH=$PWD OMP_NUM_THREADS=4 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
python3 benchmarks/analyse_images.py gpukodak/kodak --models ${MODELS:?set MODELS} --refine "$STEPS" --dpl \
  --out "$OUT" --saliency-cache gpukodak/masks --minutes "$MIN" ${3:+--resume "$3"}
ls -la "$OUT"
