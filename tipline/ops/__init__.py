"""Running a tip line: install, doctor, Tor onion services, the admin's activity log."""
