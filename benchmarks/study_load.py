"""Throughput of `salicodec study serve` on loopback: N concurrent simulated participants.

    python benchmarks/study_load.py --participants 40 --images 8

Builds a throw-away study (JPEG at fixed qualities on crops of the bundled image), starts the real
server on 127.0.0.1 with a free port, lets every participant ask for a trial and vote until the
study is full, and prints votes committed per second and request latency percentiles. Bounded:
each participant stops when done, after 500 requests, or at the --deadline.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from salicodec.study import db  # noqa: E402
from salicodec.study.create import create_study  # noqa: E402
from salicodec.study.layout import StudyConfig  # noqa: E402
from salicodec.study.reconstruct import Reconstruction  # noqa: E402
from salicodec.study.server import make_server  # noqa: E402

ASTRONAUT = Path(__file__).resolve().parents[1] / "salicodec" / "data" / "astronaut.png"


def jpeg_at_fixed_quality(rgb, codec, bpps):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(codec[1:]))
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return [Reconstruction(decoded, 8 * len(buf.getvalue()) / rgb[..., 0].size, codec) for _ in bpps]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=40)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--votes-per-trial", type=int, default=6)
    ap.add_argument("--deadline", type=float, default=120.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "ds").mkdir()
        src = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
        for i in range(a.images):
            Image.fromarray(src[10 * i : 10 * i + 128, 8 * i : 8 * i + 192]).save(tmp / "ds" / f"c{i}.png")
        config = StudyConfig(codecs=["q10", "q30", "q50", "q70"], bpps=[0.5, 1.0], votes_per_trial=a.votes_per_trial)
        create_study(tmp / "ds", tmp / "study", config, reconstructor=jpeg_at_fixed_quality, progress=False)
        server = make_server(tmp / "study", "127.0.0.1", 0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = server.url.rstrip("/")
        conn = db.connect(tmp / "study" / "study.sqlite")
        tokens = db.add_participants(conn, a.participants)
        latencies: list[float] = []
        lock = threading.Lock()
        stop = time.monotonic() + a.deadline

        def call(method, url, body=None):
            req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as r:
                out = json.loads(r.read())
            with lock:
                latencies.append(time.perf_counter() - t0)
            return out

        def participant(tok, seed):
            rng = random.Random(seed)
            for _ in range(250):
                if time.monotonic() > stop:
                    return
                nxt = call("GET", f"{base}/api/{tok}/next")
                if nxt["done"]:
                    return
                body = json.dumps({"presentation": nxt["presentation"], "side": rng.choice(["left", "right"]),
                                   "response_ms": 1000}).encode()
                call("POST", f"{base}/api/{tok}/vote", body)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=a.participants) as pool:
            list(pool.map(participant, tokens, range(a.participants)))
        wall = time.perf_counter() - t0
        server.shutdown()
        server.server_close()
        n_votes = conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
        n_trials = conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        conn.close()
        lat = sorted(latencies)
        print(f"{a.participants} participants, {n_trials} trials x {a.votes_per_trial} votes: "
              f"{n_votes} votes in {wall:.2f} s = {n_votes / wall:.0f} votes/s, {len(lat)} requests, "
              f"latency median {1000 * statistics.median(lat):.1f} ms, p95 {1000 * lat[int(0.95 * len(lat))]:.1f} ms")


if __name__ == "__main__":
    main()
