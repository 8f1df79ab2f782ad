#!/usr/bin/env bash
# First call on the lent GPU machine (docs/TRAINING.md): unpack what `gpustage/` carried into
# /tmp/stage (kept while the machine stays warm), then a 25 s smoke run of the four configs on
# the bundled smoke images, which also reports the speed. Run from the repository root.
# CONFIGS='configs/gpu-ft2-*.json' picks the configs (default: configs/gpu-ft-*.json).
set -eu
rm -rf /tmp/stage && mkdir -p /tmp/stage/shared/data && cp -r gpustage/home /tmp/stage/home
python3 - <<'PY'
import torch
# The 64 MiB carry limit: VGG-16 travels in fp16 and is widened back to float32 here, in the
# torchvision layout that salicodec.metrics.backbones prefers when it is in the cache.
s = torch.load("gpustage/vgg16_features_fp16.pt", weights_only=True)
torch.save({k: v.float() for k, v in s.items()}, "/tmp/stage/home/vgg16-397923af.pth")
PY
ln -sfn "$PWD/gpustage/smoke" /tmp/stage/shared/data/train
export SALICODEC_HOME=/tmp/stage/home SALICODEC_SHARED=/tmp/stage/shared PYTHONPATH=$PWD OMP_NUM_THREADS=3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
mkdir -p /tmp/smokecfg
CONFIGS=${CONFIGS:-configs/gpu-ft-*.json} python3 - <<'PY'
import json, glob, os
for f in sorted(glob.glob(os.environ["CONFIGS"])):
    d = json.load(open(f)); d["log_every"] = 10
    json.dump(d, open("/tmp/smokecfg/" + f.split("/")[-1], "w"))
PY
python3 -m salicodec.training.parallel /tmp/smokecfg/*.json --runs /tmp/smoke --minutes 0.45 --decay-at 0.6
for r in /tmp/smoke/*/; do echo "== $r"; grep -E "step|Error|error" $r/stdout.txt | tail -4; done
