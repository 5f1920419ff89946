"""tipline-offline: the journalist's air-gapped tool (keygen, seal, decrypt, reply).

Imports only the standard library, PyNaCl and tipline.format; a test runs it
with every server dependency made unimportable.
"""
