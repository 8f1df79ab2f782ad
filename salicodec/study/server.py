"""`salicodec study serve`: the 2AFC web app on the standard library's ThreadingHTTPServer.

Routes (everything else is 404; a participant token is required for every study page):

    GET  /                               landing page: "open the link you were given"
    GET  /static/<name>                  the app's own CSS / JS, from a fixed list
    GET  /enrol/<key>                    open enrolment (only with --enrol): new token, redirect
    GET  /s/<token>/                     instructions
    GET  /s/<token>/trial                the trial page
    GET  /s/<token>/img/<pres>/<slot>    an image of one of the participant's presentations;
                                         slot is left | original | right
    GET  /api/<token>/next               JSON: the trial to answer now (or done)
    POST /api/<token>/vote               JSON {"presentation": int, "side": "left"|"right",
                                         "response_ms": number}: committed before the reply

Image URLs name a presentation and a slot, never a file or a codec: the server maps them to the
file through the manifest, so no path from the network reaches the file system (no traversal)
and the participant cannot tell which codec is on which side from the page.
"""
from __future__ import annotations

import hmac
import json
import random
import re
import secrets
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from ..errors import SalicodecError
from . import db
from .layout import Study, load

TOKEN_RE = r"[A-Za-z0-9_-]{16,64}"
ROUTES_GET = [
    ("landing", re.compile(r"^/$")),
    ("favicon", re.compile(r"^/favicon\.ico$")),
    ("static", re.compile(r"^/static/([a-z]+\.(?:css|js))$")),
    ("enrol", re.compile(rf"^/enrol/({TOKEN_RE})$")),
    ("instructions", re.compile(rf"^/s/({TOKEN_RE})/$")),
    ("trial", re.compile(rf"^/s/({TOKEN_RE})/trial$")),
    ("image", re.compile(rf"^/s/({TOKEN_RE})/img/([0-9]{{1,12}})/(left|original|right)$")),
    ("next", re.compile(rf"^/api/({TOKEN_RE})/next$")),
]
ROUTES_POST = [("vote", re.compile(rf"^/api/({TOKEN_RE})/vote$"))]
STATIC_FILES = {"study.css": "text/css; charset=utf-8", "study.js": "text/javascript; charset=utf-8"}
PAGES = {"landing": "index.html", "instructions": "instructions.html", "trial": "trial.html"}
MAX_BODY = 4096
MAX_PATH = 512
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Tokens live in URLs: never leak them to another site through the Referer header.
    "Referrer-Policy": "no-referrer",
}


def _static_bytes(name: str) -> bytes:
    return resources.files("salicodec.study").joinpath("static", name).read_bytes()


class StudyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default of 5 refuses connections when many participants arrive at once
    allow_reuse_address = True

    def __init__(self, study: Study, address: tuple[str, int], *, enrol: bool = False, quiet: bool = False):
        self.study = study
        self.quiet = quiet
        self.rng = random.SystemRandom()
        self.static = {name: _static_bytes(name) for name in list(STATIC_FILES) + list(PAGES.values())}
        conn = db.connect(study.db_path)
        try:
            self.n_trials = len(db.all_trials(conn))
            key = db.get_meta(conn, "enrol_key")
            if enrol and key is None:
                key = secrets.token_urlsafe(db.TOKEN_BYTES)
                conn.execute("INSERT INTO meta (key, value) VALUES ('enrol_key', ?)", (key,))
        finally:
            conn.close()
        self.enrol_key = key if enrol else None
        self.quota = study.quota(self.n_trials)
        self.log_lock = threading.Lock()
        # Writers queue here instead of in SQLite's busy handler, whose sleep-and-retry backoff
        # gave multi-second tail latencies under many concurrent participants. SQLite's own locking
        # still guards against other processes (e.g. `study tokens` while serving).
        self.write_lock = threading.Lock()
        super().__init__(address, StudyHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class StudyHandler(BaseHTTPRequestHandler):
    server: StudyServer
    server_version = "salicodec-study"
    timeout = 30  # a client that stalls mid-request is dropped, not waited for forever
    protocol_version = "HTTP/1.0"

    # ---------------------------------------------------------------- plumbing
    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        if self.server.quiet:
            return
        # Tokens are secrets: keep only their first 4 characters in the log.
        line = re.sub(r"/(s|api|enrol)/([A-Za-z0-9_-]{4})[A-Za-z0-9_-]+", r"/\1/\2…", format % args)
        with self.server.log_lock:
            print(f"{self.address_string()} {line}", file=sys.stderr)

    def _send(self, status: int, body: bytes, content_type: str, *, cache: str = "no-store",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        if self.path.startswith("/api/"):
            self._json(status, {"error": message})
        else:
            page = f"<!doctype html><meta charset=utf-8><title>{status}</title><p>{message}</p>"
            self._send(status, page.encode(), "text/html; charset=utf-8")

    def _route(self, routes) -> tuple[str, tuple[str, ...]] | None:
        path = self.path.split("?", 1)[0]
        for name, rx in routes:
            m = rx.match(path)
            if m:
                return name, m.groups()
        return None

    def _participant(self, conn, token: str) -> int | None:
        pid = db.participant_id(conn, token)
        if pid is None:
            self._error(HTTPStatus.FORBIDDEN, "Unknown participant link. Use the link you were given.")
        return pid

    # ---------------------------------------------------------------- methods
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if len(self.path) > MAX_PATH:
            return self._error(HTTPStatus.REQUEST_URI_TOO_LONG, "URL too long")
        found = self._route(ROUTES_GET)
        if found is None:
            return self._error(HTTPStatus.NOT_FOUND, "Not found")
        name, groups = found
        if name == "landing":
            return self._send(200, self.server.static["index.html"], "text/html; charset=utf-8")
        if name == "favicon":
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon", cache="max-age=86400")
        if name == "static":
            if groups[0] not in STATIC_FILES:
                return self._error(HTTPStatus.NOT_FOUND, "Not found")
            return self._send(200, self.server.static[groups[0]], STATIC_FILES[groups[0]])
        conn = db.connect(self.server.study.db_path)
        try:
            if name == "enrol":
                return self._enrol(conn, groups[0])
            pid = self._participant(conn, groups[0])
            if pid is None:
                return None
            if name in PAGES:
                return self._send(200, self.server.static[PAGES[name]], "text/html; charset=utf-8")
            if name == "image":
                return self._image(conn, pid, int(groups[1]), groups[2])
            if name == "next":
                return self._next(conn, pid, groups[0])
        finally:
            conn.close()
        return self._error(HTTPStatus.NOT_FOUND, "Not found")

    def do_POST(self) -> None:  # noqa: N802
        if len(self.path) > MAX_PATH:
            return self._error(HTTPStatus.REQUEST_URI_TOO_LONG, "URL too long")
        found = self._route(ROUTES_POST)
        if found is None:
            return self._error(HTTPStatus.NOT_FOUND, "Not found")
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            # Also means a cross-site form cannot post here without a CORS preflight.
            return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
        if not (0 < length <= MAX_BODY):
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body must be 1..{MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            return self._error(HTTPStatus.BAD_REQUEST, "body is not JSON")
        parsed = parse_vote(body)
        if isinstance(parsed, str):
            return self._error(HTTPStatus.BAD_REQUEST, parsed)
        presentation_id, side, response_ms = parsed
        conn = db.connect(self.server.study.db_path)
        try:
            pid = self._participant(conn, found[1][0])
            if pid is None:
                return None
            with self.server.write_lock:
                status = db.record_vote(conn, pid, presentation_id, side, response_ms)
            if status is None:
                return self._error(HTTPStatus.NOT_FOUND, "no such presentation for this participant")
            prog = db.progress(conn, pid, self.server.quota)
        finally:
            conn.close()
        return self._json(200, {"status": status, "progress": {"answered": prog.answered, "quota": prog.quota}})

    def do_PUT(self) -> None:  # noqa: N802
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed")

    do_DELETE = do_PATCH = do_PUT  # noqa: N815

    # ---------------------------------------------------------------- handlers
    def _enrol(self, conn, key: str) -> None:
        expected = self.server.enrol_key
        if expected is None or not hmac.compare_digest(key.encode(), expected.encode()):
            return self._error(HTTPStatus.FORBIDDEN, "Enrolment is closed or the link is wrong.")
        token = db.add_participants(conn, 1, label="enrolled")[0]
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", extra={"Location": f"/s/{token}/"})

    def _image(self, conn, pid: int, presentation_id: int, slot: str) -> None:
        pres = db.presentation(conn, pid, presentation_id)
        if pres is None:
            return self._error(HTTPStatus.NOT_FOUND, "Not found")
        study, t = self.server.study, pres.trial
        if slot == "original":
            path = study.original(t.image)
        else:
            path = study.reconstruction(t.image, t.bpp, pres.left_codec if slot == "left" else pres.right_codec)
        self._send(200, path.read_bytes(), "image/png", cache="private, max-age=86400")

    def _next(self, conn, pid: int, token: str) -> None:
        server = self.server
        with server.write_lock:
            pres = db.next_presentation(
                conn, pid, votes_per_trial=server.study.config.votes_per_trial, quota=server.quota, rng=server.rng
            )
        prog = db.progress(conn, pid, server.quota)
        progress = {"answered": prog.answered, "quota": prog.quota}
        if pres is None:
            return self._json(200, {"done": True, "progress": progress})
        info = server.study.images[pres.trial.image]
        base = f"/s/{token}/img/{pres.id}"
        self._json(200, {
            "done": False,
            "presentation": pres.id,
            "width": info["width"],
            "height": info["height"],
            "images": {slot: f"{base}/{slot}" for slot in ("left", "original", "right")},
            "progress": progress,
        })


def parse_vote(body) -> tuple[int, str, float | None] | str:
    """Validate a vote body; returns (presentation id, side, response ms) or an error message."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    pres = body.get("presentation")
    if not isinstance(pres, int) or isinstance(pres, bool) or not (0 < pres < 10**12):
        return "presentation must be a positive integer"
    side = body.get("side")
    if side not in ("left", "right"):
        return "side must be 'left' or 'right'"
    rt = body.get("response_ms")
    if rt is not None:
        if not isinstance(rt, (int, float)) or isinstance(rt, bool) or not (0 <= rt <= 86_400_000):
            return "response_ms must be a number of milliseconds (0 .. 1 day)"
        rt = float(rt)
    return pres, side, rt


def make_server(study_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, *,
                enrol: bool = False, quiet: bool = False) -> StudyServer:
    study = load(study_dir)
    try:
        return StudyServer(study, (host, port), enrol=enrol, quiet=quiet)
    except OSError as e:
        raise SalicodecError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
