"""The crypto core: envelope format v1 (docs/envelope.md).

Imports only the standard library and PyNaCl, so that the offline tool can
run on a bare air-gapped machine.
"""
