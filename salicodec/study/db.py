"""The study's SQLite database: trials, participants, what each participant was shown, and votes.

Durability rules (issue 9): the database runs in WAL mode with synchronous=FULL, so a vote is on
disk when its transaction commits, and the server commits a vote before it hands out the next
trial; a crash or restart of the server loses nothing. A participant's vote on a trial is unique
(UNIQUE(participant_id, trial_id)), so answering a trial twice (two tabs, a double key press, a
replayed request) is recorded once.

Which codec is shown on which side is decided and stored by the server when the trial is shown
(table `presentations`); the browser only answers "left" or "right", so a participant can neither
see nor forge which codec is where.
"""
from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    image TEXT NOT NULL,
    bpp REAL NOT NULL,
    codec_a TEXT NOT NULL,
    codec_b TEXT NOT NULL,
    UNIQUE (image, bpp, codec_a, codec_b)
);
CREATE TABLE IF NOT EXISTS participants (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS presentations (
    id INTEGER PRIMARY KEY,
    participant_id INTEGER NOT NULL REFERENCES participants(id),
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    left_codec TEXT NOT NULL,
    right_codec TEXT NOT NULL,
    shown_at REAL NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS presentations_open ON presentations (participant_id, answered);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY,
    participant_id INTEGER NOT NULL REFERENCES participants(id),
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    presentation_id INTEGER NOT NULL REFERENCES presentations(id),
    chosen_codec TEXT NOT NULL,
    chosen_side TEXT NOT NULL CHECK (chosen_side IN ('left', 'right')),
    left_codec TEXT NOT NULL,
    right_codec TEXT NOT NULL,
    response_ms REAL,
    server_ms REAL NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (participant_id, trial_id)
);
CREATE INDEX IF NOT EXISTS votes_trial ON votes (trial_id);
"""

# A trial shown but not answered holds its place in the quota for this long, so that several
# participants arriving together do not all get the same under-voted trial.
RESERVATION_SECONDS = 600.0
TOKEN_BYTES = 16  # secrets.token_urlsafe(16): 22 characters, 128 bits


@dataclass(frozen=True)
class Trial:
    id: int
    image: str
    bpp: float
    codec_a: str
    codec_b: str


@dataclass(frozen=True)
class Presentation:
    id: int
    trial: Trial
    left_codec: str
    right_codec: str


@dataclass(frozen=True)
class Progress:
    answered: int
    quota: int  # how many trials this participant will be asked in total (at most)


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in WAL mode; each server thread opens its own."""
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=True)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.row_factory = sqlite3.Row
    return conn


def create(path: str | Path, trials: list[tuple[str, float, str, str]], meta: dict[str, str]) -> None:
    conn = connect(path)
    try:
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO trials (image, bpp, codec_a, codec_b) VALUES (?, ?, ?, ?)", trials
        )
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(meta.items()))
        conn.execute("COMMIT")
    finally:
        conn.close()


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row["value"]


def add_participants(conn: sqlite3.Connection, n: int, label: str = "") -> list[str]:
    tokens = [secrets.token_urlsafe(TOKEN_BYTES) for _ in range(n)]
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO participants (token, label, created_at) VALUES (?, ?, ?)",
        [(t, label, now) for t in tokens],
    )
    conn.execute("COMMIT")
    return tokens


def participant_id(conn: sqlite3.Connection, token: str) -> int | None:
    row = conn.execute("SELECT id FROM participants WHERE token = ?", (token,)).fetchone()
    return None if row is None else int(row["id"])


def _trial(row: sqlite3.Row) -> Trial:
    return Trial(int(row["id"]), row["image"], float(row["bpp"]), row["codec_a"], row["codec_b"])


def progress(conn: sqlite3.Connection, pid: int, quota: int) -> Progress:
    n = conn.execute("SELECT COUNT(*) FROM votes WHERE participant_id = ?", (pid,)).fetchone()[0]
    return Progress(int(n), quota)


def next_presentation(
    conn: sqlite3.Connection, pid: int, *, votes_per_trial: int, quota: int, rng
) -> Presentation | None:
    """The trial this participant should answer now, or None when they are done.

    An open (shown, unanswered) presentation is returned again, so reloading the page shows the
    same images on the same sides. Otherwise the trial with the fewest votes plus live
    reservations, among those this participant has not answered and that still need votes, is
    reserved for them with a random side assignment.
    """
    # A reservation need not survive a power cut (losing one only re-opens a slot), so it skips the
    # fsync that votes pay for; the next vote's FULL commit syncs the whole WAL anyway.
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        return _next_presentation(conn, pid, votes_per_trial, quota, rng)
    finally:
        conn.execute("PRAGMA synchronous=FULL")


def _next_presentation(conn: sqlite3.Connection, pid: int, votes_per_trial: int, quota: int, rng) -> Presentation | None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT p.id AS pres_id, p.left_codec, p.right_codec, t.* FROM presentations p "
            "JOIN trials t ON t.id = p.trial_id WHERE p.participant_id = ? AND p.answered = 0 "
            "ORDER BY p.id LIMIT 1",
            (pid,),
        ).fetchone()
        if row is not None:
            conn.execute("COMMIT")
            return Presentation(int(row["pres_id"]), _trial(row), row["left_codec"], row["right_codec"])
        answered = conn.execute(
            "SELECT COUNT(*) FROM votes WHERE participant_id = ?", (pid,)
        ).fetchone()[0]
        if answered >= quota:
            conn.execute("COMMIT")
            return None
        live_since = time.time() - RESERVATION_SECONDS
        candidates = conn.execute(
            """
            SELECT t.*, COALESCE(v.n, 0) + COALESCE(r.n, 0) AS load
            FROM trials t
            LEFT JOIN (SELECT trial_id, COUNT(*) AS n FROM votes GROUP BY trial_id) v ON v.trial_id = t.id
            LEFT JOIN (SELECT trial_id, COUNT(*) AS n FROM presentations
                       WHERE answered = 0 AND shown_at > ? GROUP BY trial_id) r ON r.trial_id = t.id
            WHERE t.id NOT IN (SELECT trial_id FROM votes WHERE participant_id = ?)
            """,
            (live_since, pid),
        ).fetchall()
        open_trials = [r for r in candidates if r["load"] < votes_per_trial]
        if not open_trials:
            conn.execute("COMMIT")
            return None
        least = min(r["load"] for r in open_trials)
        chosen = rng.choice([r for r in open_trials if r["load"] == least])
        trial = _trial(chosen)
        left, right = (trial.codec_a, trial.codec_b) if rng.random() < 0.5 else (trial.codec_b, trial.codec_a)
        cur = conn.execute(
            "INSERT INTO presentations (participant_id, trial_id, left_codec, right_codec, shown_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (pid, trial.id, left, right, time.time()),
        )
        conn.execute("COMMIT")
        return Presentation(int(cur.lastrowid), trial, left, right)
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def presentation(conn: sqlite3.Connection, pid: int, presentation_id: int) -> Presentation | None:
    """A presentation that belongs to this participant (None for anyone else's)."""
    row = conn.execute(
        "SELECT p.id AS pres_id, p.left_codec, p.right_codec, t.* FROM presentations p "
        "JOIN trials t ON t.id = p.trial_id WHERE p.id = ? AND p.participant_id = ?",
        (presentation_id, pid),
    ).fetchone()
    if row is None:
        return None
    return Presentation(int(row["pres_id"]), _trial(row), row["left_codec"], row["right_codec"])


def record_vote(
    conn: sqlite3.Connection, pid: int, presentation_id: int, side: str, response_ms: float | None
) -> str | None:
    """Store a vote and commit it. Returns "recorded", "duplicate", or None for a foreign id."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT trial_id, left_codec, right_codec, shown_at FROM presentations "
            "WHERE id = ? AND participant_id = ?",
            (presentation_id, pid),
        ).fetchone()
        if row is None:
            conn.execute("ROLLBACK")
            return None
        now = time.time()
        chosen = row["left_codec"] if side == "left" else row["right_codec"]
        cur = conn.execute(
            "INSERT INTO votes (participant_id, trial_id, presentation_id, chosen_codec, chosen_side,"
            " left_codec, right_codec, response_ms, server_ms, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (participant_id, trial_id) DO NOTHING",
            (pid, row["trial_id"], presentation_id, chosen, side, row["left_codec"],
             row["right_codec"], response_ms, 1000.0 * (now - row["shown_at"]), now),
        )
        # Every presentation of this trial to this participant is closed by the first vote.
        conn.execute(
            "UPDATE presentations SET answered = 1 WHERE participant_id = ? AND trial_id = ?",
            (pid, row["trial_id"]),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return "recorded" if cur.rowcount == 1 else "duplicate"


def all_votes(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT v.*, t.image, t.bpp, t.codec_a, t.codec_b, p.token FROM votes v "
        "JOIN trials t ON t.id = v.trial_id JOIN participants p ON p.id = v.participant_id "
        "ORDER BY v.id"
    ).fetchall()


def all_trials(conn: sqlite3.Connection) -> list[Trial]:
    return [_trial(r) for r in conn.execute("SELECT * FROM trials ORDER BY id").fetchall()]
