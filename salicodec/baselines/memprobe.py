"""Peak memory of one encode or decode, measured in a fresh process.

Inside a long-running benchmark the allocator keeps the heap of earlier encodes, so the resident
high-water mark barely moves; a fresh process that loads the image, records its resident size
and then codes once gives the honest extra peak (VmHWM - VmRSS before), C libraries included.
Linux only (/proc); elsewhere the probe answers null.

  python -m salicodec.baselines.memprobe CODEC SETTING_JSON IMAGE {encode|decode FILE}
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _main(argv: list[str]) -> int:
    from . import make_codec
    from ..imageio import load_rgb

    codec_name, setting, image, mode = argv[0], json.loads(argv[1]), argv[2], argv[3]
    codec = make_codec(codec_name)
    rgb = load_rgb(image)
    if mode == "encode":
        codec.encode(rgb, setting)  # warm-up: library initialisation is not the codec's working memory
        Path("/proc/self/clear_refs").write_text("5")
        before = _kib("VmRSS")
        codec.encode(rgb, setting)
    else:
        data = Path(argv[4]).read_bytes()
        codec.decode(data)
        Path("/proc/self/clear_refs").write_text("5")
        before = _kib("VmRSS")
        codec.decode(data)
    peak = _kib("VmHWM")
    print(json.dumps({"peak_mib": None if before is None or peak is None else max(0, peak - before) / 1024.0}))
    return 0


def probe(codec: str, setting, image: Path, mode: str, file: Path | None = None, timeout: float = 300) -> float | None:
    """Peak extra MiB of one encode/decode in a fresh interpreter; None when it cannot be measured."""
    if not Path("/proc/self/clear_refs").exists():
        return None
    root = str(Path(__file__).resolve().parent.parent.parent)
    cmd = [sys.executable, "-c", f"import sys; sys.path.insert(0, {root!r}); "
           "from salicodec.baselines.memprobe import _main; sys.exit(_main(sys.argv[1:]))",
           codec, json.dumps(setting), str(image), mode] + ([str(file)] if file else [])
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        return json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"]
    except (subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError):
        return None


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
