"""The study server over real HTTP on loopback: the trial protocol, security, and durability."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from study_helpers import get_json, http, post_vote

from salicodec.study import db
from salicodec.study.layout import load


def test_trial_protocol_sides_and_votes(server):
    tok = server.tokens(1)[0]
    status, nxt = get_json(f"{server.url}/api/{tok}/next")
    assert status == 200 and nxt["done"] is False
    assert nxt["progress"] == {"answered": 0, "quota": 12}
    # reloading shows the same presentation (same sides) until it is answered
    assert get_json(f"{server.url}/api/{tok}/next")[1]["presentation"] == nxt["presentation"]
    # image URLs name a slot, not a codec or a file
    for slot in ("left", "original", "right"):
        url = nxt["images"][slot]
        assert url.endswith(f"/{slot}") and "jpeg" not in url and "webp" not in url
        st, headers, body = http("GET", server.url + url)
        assert st == 200 and headers["Content-Type"] == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n"
    conn = db.connect(server.study.db_path)
    pres = db.presentation(conn, db.participant_id(conn, tok), nxt["presentation"])
    # the right-hand image is the reconstruction of the codec the server put on the right
    expected = server.study.reconstruction(pres.trial.image, pres.trial.bpp, pres.right_codec).read_bytes()
    assert http("GET", server.url + nxt["images"]["right"])[2] == expected
    status, res = post_vote(server.url, tok, nxt["presentation"], "right", 1234.0)
    assert status == 200 and res == {"status": "recorded", "progress": {"answered": 1, "quota": 12}}
    # the same answer again, or the other side, is not counted twice
    assert post_vote(server.url, tok, nxt["presentation"], "left")[1]["status"] == "duplicate"
    rows = conn.execute("SELECT * FROM votes").fetchall()
    conn.close()
    assert len(rows) == 1
    v = rows[0]
    assert (v["chosen_side"], v["chosen_codec"], v["response_ms"]) == ("right", pres.right_codec, 1234.0)
    assert (v["left_codec"], v["right_codec"]) == (pres.left_codec, pres.right_codec)
    assert v["server_ms"] >= 0
    assert get_json(f"{server.url}/api/{tok}/next")[1]["presentation"] != nxt["presentation"]


def test_sides_are_randomised(server):
    tokens = server.tokens(6)
    left_is_a = []
    conn = db.connect(server.study.db_path)
    for tok in tokens:
        for _ in range(4):
            nxt = get_json(f"{server.url}/api/{tok}/next")[1]
            if nxt["done"]:
                break
            pres = db.presentation(conn, db.participant_id(conn, tok), nxt["presentation"])
            left_is_a.append(pres.left_codec == pres.trial.codec_a)
            post_vote(server.url, tok, nxt["presentation"], "left")
    conn.close()
    assert len(left_is_a) >= 20 and 0 < sum(left_is_a) < len(left_is_a)


def test_each_trial_gets_exactly_votes_per_trial(server):
    """3 votes per trial (the fixture's setting); 5 participants answer everything they are given."""
    tokens = server.tokens(5)
    for tok in tokens:
        while True:
            nxt = get_json(f"{server.url}/api/{tok}/next")[1]
            if nxt["done"]:
                break
            assert post_vote(server.url, tok, nxt["presentation"], "left")[1]["status"] == "recorded"
    conn = db.connect(server.study.db_path)
    per_trial = [r[0] for r in conn.execute(
        "SELECT COUNT(v.id) FROM trials t LEFT JOIN votes v ON v.trial_id = t.id GROUP BY t.id")]
    conn.close()
    assert per_trial == [3] * 12


@pytest.mark.parametrize("path", [
    "/static/../study.sqlite", "/static/%2e%2e/study.json", "/study.json", "/images/crop0/original.png",
    "/static/study.py", "/s/../../etc/passwd", "/static//etc/passwd", "/static/STUDY.css",
])
def test_only_study_files_are_served(server, path):
    status, _, body = http("GET", server.url + path)
    assert status == 404
    assert b"SQLite" not in body and b"PNG" not in body


def test_tokens_required_and_checked(server):
    tok = server.tokens(1)[0]
    nxt = get_json(f"{server.url}/api/{tok}/next")[1]
    other = server.tokens(1)[0]
    stranger = "A" * 22
    for url in (f"/s/{stranger}/", f"/s/{stranger}/trial", f"/api/{stranger}/next"):
        assert http("GET", server.url + url)[0] == 403
    assert post_vote(server.url, stranger, nxt["presentation"], "left")[0] == 403
    # another participant can neither see nor answer this participant's presentation
    assert http("GET", f"{server.url}/s/{other}/img/{nxt['presentation']}/left")[0] == 404
    assert post_vote(server.url, other, nxt["presentation"], "left")[0] == 404
    assert http("GET", f"{server.url}/s/{tok}/")[0] == 200


@pytest.mark.parametrize("body, ctype, status", [
    (b'{"presentation": 1, "side": "up"}', "application/json", 400),
    (b'{"presentation": "1", "side": "left"}', "application/json", 400),
    (b'{"presentation": true, "side": "left"}', "application/json", 400),
    (b'{"presentation": 1, "side": "left", "response_ms": -5}', "application/json", 400),
    (b'{"presentation": 1, "side": "left", "response_ms": "fast"}', "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b"not json", "application/json", 400),
    (b'{"presentation": 1, "side": "left"}', "application/x-www-form-urlencoded", 415),
    (b"{" + b" " * 5000 + b"}", "application/json", 413),
])
def test_vote_input_validated(server, body, ctype, status):
    tok = server.tokens(1)[0]
    get_json(f"{server.url}/api/{tok}/next")
    st, _, data = http("POST", f"{server.url}/api/{tok}/vote", body, {"Content-Type": ctype})
    assert st == status and "error" in json.loads(data)
    conn = db.connect(server.study.db_path)
    assert conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 0
    conn.close()


def test_security_headers(server):
    tok = server.tokens(1)[0]
    status, headers, _ = http("GET", f"{server.url}/s/{tok}/trial")
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert "Python" not in headers["Server"]


def test_enrolment_link(study_dir):
    from study_helpers import RunningServer

    closed = RunningServer(study_dir)
    try:
        assert http("GET", f"{closed.url}/enrol/{'B' * 22}")[0] == 403
    finally:
        closed.close()
    s = RunningServer(study_dir, enrol=True)
    try:
        key = s.server.enrol_key
        assert http("GET", f"{s.url}/enrol/{'B' * 22}")[0] == 403
        st, _, body = http("GET", f"{s.url}/enrol/{key}")  # urllib follows the redirect
        assert st == 200 and b"closer to the original" in body
        conn = db.connect(s.study.db_path)
        assert conn.execute("SELECT COUNT(*) FROM participants WHERE label = 'enrolled'").fetchone()[0] == 1
        conn.close()
    finally:
        s.close()


def _serve(study_dir: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "salicodec.cli", "study", "serve", str(study_dir), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    line = proc.stdout.readline()
    assert "serving" in line, proc.stderr.read()
    return proc, line.split(" at ", 1)[1].split(" ", 1)[0].rstrip("/")


def test_votes_survive_a_killed_server(study_dir):
    proc, url = _serve(study_dir)
    try:
        conn = db.connect(load(study_dir).db_path)
        tok = db.add_participants(conn, 1)[0]
        conn.close()
        first = get_json(f"{url}/api/{tok}/next")[1]
        assert post_vote(url, tok, first["presentation"], "left")[1]["status"] == "recorded"
        second = get_json(f"{url}/api/{tok}/next")[1]
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean shutdown, no checkpoint
        proc.wait(timeout=30)
    proc, url = _serve(study_dir)
    try:
        again = get_json(f"{url}/api/{tok}/next")[1]
        assert again["progress"]["answered"] == 1
        assert again["presentation"] == second["presentation"]  # the open trial is still theirs
        assert post_vote(url, tok, first["presentation"], "right")[1]["status"] == "duplicate"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    conn = db.connect(load(study_dir).db_path)
    assert [tuple(r) for r in conn.execute("SELECT chosen_side FROM votes")] == [("left",)]
    conn.close()


def test_serve_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "salicodec.cli", "study", "serve", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a study folder" in r.stderr and r.stderr.count("\n") == 1


def test_default_bind_is_localhost():
    from salicodec.cli import build_parser

    args = build_parser().parse_args(["study", "serve", "x"])
    assert args.host == "127.0.0.1"


def test_tokens_command_prints_working_links(server, capsys):
    from salicodec.cli import main

    assert main(["study", "tokens", str(server.study.root), "-n", "3", "--base-url", server.url]) == 0
    links = capsys.readouterr().out.split()
    assert len(links) == 3 and len(set(links)) == 3
    for link in links:
        assert http("GET", link)[0] == 200
    assert main(["study", "tokens", str(server.study.root), "-n", "0"]) == 2
