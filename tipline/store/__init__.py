"""Storage: the submissions table, the ciphertext files, and the recipient keys.

Knows nothing of HTTP; the web layer and the CLI call it.
"""
