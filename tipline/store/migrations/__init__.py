"""Alembic migrations: one environment per database, each with its own history and version table.

submissions/  the submissions database (models.Base), shared by both apps
accounts/     the accounts database (models.AccountsBase and the activity log), the journalist app's

Two environments, not one with two branches: a revision of one database can
then never be applied to the other, whose tables must stay apart
(docs/install.md, "Who can read what"). Each database records its revision
in a version table of its own name (tipline/store/schema.py VERSION_TABLES),
so the two never collide even if both were pointed at one PostgreSQL database.
How to add a revision: docs/upgrades.md.
"""
