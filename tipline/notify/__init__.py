"""`tipline notify`: content-free notifications by email and webhook (docs/notifications.md)."""
