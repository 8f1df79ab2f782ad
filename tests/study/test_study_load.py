"""Load test on loopback: many concurrent simulated participants, then every vote is there once.

Bounded: 40 participants (8 of them answering from two browser tabs at once), at most 200 requests
each and a 120 s deadline; the server is the real ThreadingHTTPServer on 127.0.0.1.
"""
from __future__ import annotations

import io
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from study_helpers import RunningServer, get_json, make_dataset, post_vote

from salicodec.study import db
from salicodec.study.create import create_study
from salicodec.study.layout import StudyConfig
from salicodec.study.reconstruct import Reconstruction

PARTICIPANTS = 40
TWO_TAB_PARTICIPANTS = 8
MAX_REQUESTS = 200
DEADLINE_S = 120.0
VOTES_PER_TRIAL = 6


def jpeg_at_fixed_quality(rgb, codec, bpps):
    """Codecs named q10, q30, ...: JPEG at that quality, whatever the target (a cheap, real codec)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(codec[1:]))
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    bpp = 8 * len(buf.getvalue()) / (rgb.shape[0] * rgb.shape[1])
    return [Reconstruction(decoded, bpp, f"quality={codec[1:]}") for _ in bpps]


@pytest.mark.timeout(300)
def test_concurrent_participants_every_vote_exactly_once(tmp_path):
    ds = make_dataset(tmp_path / "ds", n=4, size=(64, 48))
    config = StudyConfig(codecs=["q10", "q30", "q50", "q70"], bpps=[0.5, 1.0], votes_per_trial=VOTES_PER_TRIAL)
    create_study(ds, tmp_path / "study", config, reconstructor=jpeg_at_fixed_quality, progress=False)
    n_trials = 4 * 2 * 6
    server = RunningServer(tmp_path / "study")
    tokens = server.tokens(PARTICIPANTS)
    deadline = time.monotonic() + DEADLINE_S
    lock = threading.Lock()
    recorded: dict[tuple[str, int], str] = {}  # (token, presentation) -> side of the recorded vote
    statuses: list[int] = []
    duplicates = 0

    def participant(token: str, seed: int) -> None:
        nonlocal duplicates
        rng = random.Random(seed)
        for _ in range(MAX_REQUESTS // 3):
            if time.monotonic() > deadline:
                return
            st, nxt = get_json(f"{server.url}/api/{token}/next")
            with lock:
                statuses.append(st)
            if nxt.get("done"):
                return
            side = rng.choice(["left", "right"])
            st, res = post_vote(server.url, token, nxt["presentation"], side, rng.uniform(300, 5000))
            with lock:
                statuses.append(st)
                if res.get("status") == "recorded":
                    assert (token, nxt["presentation"]) not in recorded
                    recorded[(token, nxt["presentation"])] = side
                elif res.get("status") == "duplicate":
                    duplicates += 1
            if rng.random() < 0.3:  # a double key press / replayed request
                st, res = post_vote(server.url, token, nxt["presentation"], "left" if side == "right" else "right")
                with lock:
                    statuses.append(st)
                    assert res["status"] == "duplicate"
                    duplicates += 1

    jobs = [(tok, i) for i, tok in enumerate(tokens)]
    jobs += [(tok, 1000 + i) for i, tok in enumerate(tokens[:TWO_TAB_PARTICIPANTS])]  # second tabs
    random.Random(0).shuffle(jobs)
    try:
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            for f in [pool.submit(participant, *job) for job in jobs]:
                f.result()
    finally:
        server.close()

    assert set(statuses) == {200}
    assert duplicates > 0
    conn = db.connect(tmp_path / "study" / "study.sqlite")
    rows = conn.execute("SELECT p.token, v.presentation_id, v.chosen_side, v.trial_id FROM votes v "
                        "JOIN participants p ON p.id = v.participant_id").fetchall()
    per_trial = [r[0] for r in conn.execute(
        "SELECT COUNT(v.id) FROM trials t LEFT JOIN votes v ON v.trial_id = t.id GROUP BY t.id")]
    conn.close()
    # every recorded vote is in the database, once, with the side that was answered first
    assert {(r["token"], r["presentation_id"]): r["chosen_side"] for r in rows} == recorded
    assert len(rows) == len(recorded) == len({(r["token"], r["trial_id"]) for r in rows})
    # and the scheduler filled every trial to exactly the requested number of votes
    assert len(per_trial) == n_trials and per_trial == [VOTES_PER_TRIAL] * n_trials
