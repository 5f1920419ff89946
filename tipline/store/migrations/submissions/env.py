"""Alembic's entry point for the submissions database (see tipline/store/migrations/runenv.py)."""

from tipline.store.migrations.runenv import run

run("submissions")
