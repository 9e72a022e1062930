"""The baseline of bench.checkin: a bare Flask route inserting two rows with SQLAlchemy, nothing else.

Served by gunicorn with the same settings as Linli (`gunicorn bench.bare_app:app`), on the same
database (its own two tables), so the ratio shows what check-in adds on top of a minimal write.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import create_engine, text

engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"), pool_pre_ping=True
)
app = Flask(__name__)


@app.post("/bare")
def bare() -> ResponseReturnValue:
    """Insert a pair of rows in one transaction."""
    with engine.begin() as conn:
        first = conn.execute(text("INSERT INTO bench_a (n) VALUES (1) RETURNING id")).scalar_one()
        conn.execute(text("INSERT INTO bench_b (a_id) VALUES (:a)"), {"a": first})
    return jsonify({"id": first}), 201
