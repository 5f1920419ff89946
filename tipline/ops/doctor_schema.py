"""`tipline doctor`: both databases at the schema revision this code runs on (docs/upgrades.md).

Read only, as the other database checks: the doctor runs as root and must
leave no file an app could not open.
"""

from __future__ import annotations

from tipline.config import Settings
from tipline.ops.doctor import Finding, problem, read_only_engine, sqlite_path


def check_schemas(settings: Settings) -> list[Finding]:
    from tipline.store.schema import ACCOUNTS, SUBMISSIONS, State, status
    from tipline.store.schema import problem as schema_problem

    out = []
    for which, url in ((SUBMISSIONS, settings.db_url), (ACCOUNTS, settings.accounts_db_url)):
        db = sqlite_path(url)
        if db is not None and not db.exists():
            continue  # made at first use; the layout and journalist checks say what is missing
        engine = read_only_engine(url)
        try:
            st = status(engine, which)
        except Exception as e:  # any driver error: report it, do not crash the doctor
            out.append(problem(f"Cannot read the {which} database's schema ({type(e).__name__})."))
            continue
        finally:
            engine.dispose()
        if st.state is State.EMPTY:
            continue  # a new database: its tables are made, at the head revision, when an app starts
        why = schema_problem(st, settings.data_dir)
        if why:
            out.append(problem(why))
    return out
