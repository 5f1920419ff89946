"""Hold the log lines that requests cause, and write them once an hour, counted.

A log line carries its own time: gunicorn's prefix, and journald's stamp on
every line it receives. A line written the moment a request fails says, to
the second, when someone was using the tip line, the very time the database
keeps only to the hour. So a line caused by a request is not written then:
it is counted, per message, and each hour's counts are written together when
the hour ends, as "3× storage is full: a tip was refused with 503 (in the
hour up to 10:00 UTC)". The admin still learns what went wrong, and when to
the hour; nobody learns more.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

HOUR = 3600
# The logger that tipline's own modules log under (tipline.web.app, tipline.store.db, ...).
TIPLINE_LOGGER = "tipline"


class HourlyDigest(logging.Handler):
    """A handler that counts the records `hold` accepts and writes the counts at each period's end.

    Other records go to `target` at once. The period boundaries are multiples
    of `period_s` since the epoch (whole hours by default), so the moment a
    digest is written says nothing but which period ended.
    """

    def __init__(
        self,
        target: logging.Handler,
        period_s: int = HOUR,
        hold: Callable[[logging.LogRecord], bool] = lambda _r: True,
    ) -> None:
        super().__init__()
        self.target, self.period_s, self.hold = target, max(1, period_s), hold
        self._counts: Counter[tuple[int, str, str]] = Counter()
        self._guard = threading.Lock()
        self._timer_pid: int | None = None  # a forked worker needs a timer thread of its own
        atexit.register(self.write_counts)

    def emit(self, record: logging.LogRecord) -> None:
        if not self.hold(record):
            self.target.handle(record)
            return
        try:
            key = (record.levelno, record.name, record.getMessage())
        except Exception:  # a record whose arguments do not format: count it by its template
            key = (record.levelno, record.name, str(record.msg))
        with self._guard:
            self._counts[key] += 1
            if self._timer_pid != os.getpid():
                self._timer_pid = os.getpid()
                threading.Thread(target=self._every_period, name="tipline-log-digest", daemon=True).start()

    def _every_period(self) -> None:
        while True:
            now = time.time()
            time.sleep(self.period_s - now % self.period_s + 0.01)
            self.write_counts()

    def write_counts(self) -> None:
        """Write what was counted in the period that just ended (at exit: so far), and start afresh."""
        with self._guard:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return
        end = time.gmtime(time.time() // self.period_s * self.period_s)
        period = "hour" if self.period_s == HOUR else f"{self.period_s} s"
        for (level, name, message), n in sorted(counts.items()):
            record = logging.LogRecord(
                name, level, __file__, 0, "%d× %s (in the %s up to %s UTC)",
                (n, message, period, time.strftime("%H:%M" if self.period_s % 60 == 0 else "%H:%M:%S", end)),
                None,
            )  # fmt: skip
            self.target.handle(record)


def hold_tipline_logs(period_s: int = HOUR) -> None:
    """Send every record of tipline's own loggers through one HourlyDigest, once per process.

    Call before an app is made: Flask then sees a handler above its logger
    (tipline.web.app) and adds no handler of its own.
    """
    logger = logging.getLogger(TIPLINE_LOGGER)
    if any(isinstance(h, HourlyDigest) for h in logger.handlers):
        return
    target = logging.StreamHandler(sys.stderr)
    target.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] %(message)s"))
    logger.addHandler(HourlyDigest(target, period_s))
    logger.setLevel(logging.INFO)
    logger.propagate = False
