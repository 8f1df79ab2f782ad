#!/usr/bin/env bash
# Before the GPU calls (docs/TRAINING.md): the working tree that travels is at most 64 MiB, and
# the tracked files alone are ~33 MiB once the model zoo holds a dozen checkpoints, which leaves
# no room for gpustage/ (45 MB) or traindata/ (48 MB). `hold` moves the tracked files that the
# GPU run does not read (every zoo checkpoint except those the configs' init_from name, the
# init checkpoints under configs/init/, the large figures) to a folder outside the repository;
# `restore` puts them back. Nothing is committed; `git status` is clean again after restore.
#
# Usage: CONFIGS='configs/gpu-ft2-*.json' bash scripts/gpu/slim.sh hold|restore [HOLD_DIR]
#        KEEP_MODELS='sali-gpu-0.67-v5 sali-gpu-1.0-v4' bash scripts/gpu/slim.sh hold   (the zoo
#        files of these models and of their delta bases stay; for scripts/gpu/analyse.sh)
set -eu
cmd=${1:?hold or restore}
hold=${2:-/tmp/salicodec-hold}
case "$cmd" in
hold)
  keep=$(python3 - <<'PY'
import glob, json, os
reg = {m["file"]: m for m in json.load(open("salicodec/zoo/registry.json"))["models"]}
names = {m["name"]: m["file"] for m in reg.values()}
for name in os.environ.get("KEEP_MODELS", "").split():
    entry = next((m for m in reg.values() if m["name"] == name), None)
    if entry is None:
        raise SystemExit(f"slim.sh: no model {name} in the registry")
    print("salicodec/zoo/" + entry["file"])
    if entry.get("base"):
        print("salicodec/zoo/" + names[entry["base"]])
configs = [] if os.environ.get("KEEP_MODELS") and not os.environ.get("CONFIGS") else \
    sorted(glob.glob(os.environ.get("CONFIGS", "configs/gpu-ft-*.json")))
for f in configs:
    init = json.load(open(f)).get("init_from")
    if init:
        print(init)
        base = reg.get(os.path.basename(init), {}).get("base")
        if base:  # a delta file (salicodec/models/zoo.py) loads with its base
            print(os.path.join(os.path.dirname(init), names[base]))
PY
)
  mkdir -p "$hold"
  git ls-files 'salicodec/zoo/*.pt' 'configs/init/*.pt' 'docs/benchmarks/analyses-*/*.npz' docs/study_trial.png docs/saliency_kodak.jpg \
      docs/benchmarks/kodak_crops.png | while read -r f; do
    if printf '%s\n' $keep | grep -qxF "$f"; then continue; fi
    [ -f "$f" ] || continue
    mkdir -p "$hold/$(dirname "$f")" && mv "$f" "$hold/$f"
  done
  echo "tracked bytes that travel now: $(git ls-files -z | xargs -0 cat 2>/dev/null | wc -c)"
  ;;
restore)
  [ -d "$hold" ] || { echo "nothing held in $hold"; exit 0; }
  (cd "$hold" && find . -type f) | while read -r f; do
    mkdir -p "$(dirname "$f")" && mv "$hold/$f" "$f"
  done
  rm -rf "$hold"
  git status --short
  ;;
*) echo "usage: slim.sh hold|restore [HOLD_DIR]"; exit 2 ;;
esac
