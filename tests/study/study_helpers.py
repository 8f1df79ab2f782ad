"""Helpers for the study tests: a tiny real dataset, a server on a free loopback port, HTTP calls."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from salicodec.study import db
from salicodec.study.layout import load
from salicodec.study.server import make_server

ASTRONAUT = Path(__file__).resolve().parents[2] / "salicodec" / "data" / "astronaut.png"
CODECS = ["jpeg-420", "jpeg-444", "webp"]
BPPS = [0.5, 1.0]


def make_dataset(folder: Path, n: int = 2, size: tuple[int, int] = (96, 64)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    src = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    w, h = size
    for i in range(n):
        y, x = 40 + 37 * i, 60 + 53 * i
        Image.fromarray(src[y : y + h, x : x + w]).save(folder / f"crop{i}.png")
    return folder


class RunningServer:
    def __init__(self, study_dir: Path, **kw):
        self.server = make_server(study_dir, "127.0.0.1", 0, quiet=True, **kw)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = self.server.url.rstrip("/")
        self.study = load(study_dir)

    def tokens(self, n: int = 1) -> list[str]:
        conn = db.connect(self.study.db_path)
        try:
            return db.add_participants(conn, n)
        finally:
            conn.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30.0):
    """(status, headers, body bytes); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(url: str):
    status, _, body = http("GET", url)
    return status, json.loads(body)


def post_vote(base: str, token: str, presentation: int, side: str, response_ms: float | None = 900.0):
    body = json.dumps({"presentation": presentation, "side": side, "response_ms": response_ms}).encode()
    status, _, data = http("POST", f"{base}/api/{token}/vote", body, {"Content-Type": "application/json"})
    return status, json.loads(data)
