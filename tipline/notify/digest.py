"""What a notification says, and for which period: never content, names of sources, sizes or times.

Every sentence a notification can hold is here, in English (it goes to an
operator's mailbox; docs/notifications.md shows each one). The text is a
function of the period and the hour-granular rows of the databases only, so
when a tip arrived within the period changes nothing that is sent.

A period is named by the date it falls due on: daily at `hour` UTC, or
weekly on `weekday` (0 is Monday) at `hour`. The notification for period P
covers the hours from the previous period's due hour (or from the end of
the last period the channel settled) up to P's due hour, not including it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tipline.store.models import Conversation, Submission

from .settings import NotifySettings

SUBJECT = "Tipline: activity"  # the same for activity and quiet messages, on purpose
ACTIVITY = "There has been new activity on the tip line since the last notification."
QUIET = "There has been no new activity on the tip line since the last notification."
NEW_SUBMISSIONS = "New submissions: {num}."
NEW_CONVERSATIONS = "New conversations: {num}."
FOLLOW_UPS = "Follow-ups in earlier conversations: {num}."
FAILED_LOGINS = "Failed logins since the last notification: {names}."
TEST = "This is a test notification from the tip line. If it reached you, notifications work."
# Bodies are padded to a multiple of this many bytes, so that a message's size tells a mail
# provider nothing of whether there was activity, or how much.
PAD_TO = 1024
HOUR = "%Y-%m-%dT%H:00Z"


def hour_text(t: datetime) -> str:
    return t.astimezone(UTC).strftime(HOUR)


def due_at(ns: NotifySettings, period: date) -> datetime:
    return datetime.combine(period, time(ns.hour), UTC)


def current_period(ns: NotifySettings, now: datetime) -> date:
    """The latest period whose due hour is at or before `now`."""
    now = now.astimezone(UTC)
    d = now.date()
    if now < due_at(ns, d):
        d -= timedelta(days=1)
    if ns.period == "weekly":
        d -= timedelta(days=(d.weekday() - ns.weekday) % 7)
    return d


def previous_period(ns: NotifySettings, period: date) -> date:
    return period - timedelta(days=7 if ns.period == "weekly" else 1)


@dataclass(frozen=True)
class Activity:
    """Counts of one window of hours [since, until): what a notification may say, at most."""

    submissions: int
    conversations: int
    follow_ups: int

    @property
    def any(self) -> bool:
        return self.submissions > 0 or self.conversations > 0


def activity(sessions: sessionmaker[Session], since: str, until: str) -> Activity:
    """Submissions received and conversations opened in the hours [since, until).

    A follow-up is a submission to a conversation, less each new conversation's
    first tip. Replies are the newsroom's own doing and are not counted.
    """
    in_window = (Submission.received_hour >= since) & (Submission.received_hour < until)
    with sessions() as s:
        submissions = s.scalar(select(func.count()).select_from(Submission).where(in_window)) or 0
        opened = (Conversation.created_hour >= since) & (Conversation.created_hour < until)
        conversations = s.scalar(select(func.count()).select_from(Conversation).where(opened)) or 0
        in_conversations = (
            s.scalar(
                select(func.count())
                .select_from(Submission)
                .where(in_window, Submission.conversation_id.is_not(None))
            )
            or 0
        )
    return Activity(submissions, conversations, max(0, in_conversations - conversations))


def failed_logins(accounts: sessionmaker[Session], since_hour: str) -> dict[str, int]:
    """Failed logins per account since the hour, from the activity log (tipline/store/activity.py)."""
    from tipline.store.activity import ActivityLog

    return dict(ActivityLog(accounts).failed_logins(since_hour))


def compose(ns: NotifySettings, found: Activity, failures: dict[str, int]) -> str | None:
    """The notification's text, or None when there is nothing to say and quiet periods stay silent."""
    if not found.any and not failures and not ns.send_when_quiet:
        return None
    lines = [ACTIVITY if found.any else QUIET]
    if ns.counts:
        lines += [
            NEW_SUBMISSIONS.format(num=found.submissions),
            NEW_CONVERSATIONS.format(num=found.conversations),
            FOLLOW_UPS.format(num=found.follow_ups),
        ]
    if failures:
        names = ", ".join(f"{name}: {n}" for name, n in sorted(failures.items()))
        lines.append(FAILED_LOGINS.format(names=names))
    return "\n".join(lines) + "\n"


def padded(data: bytes, fill: bytes) -> bytes:
    """`data` with `fill` bytes after it, to a whole number of PAD_TO bytes."""
    return data + fill * (-len(data) % PAD_TO)
