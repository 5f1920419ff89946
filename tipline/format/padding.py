"""Padmé padding (Nikitin et al., "Reducing Metadata Leakage from Encrypted
Files and Communication with PURBs", PETS 2019).

Padding the plaintext to one of few lengths hides all but O(log log n) bits
of its size, at a cost of at most 11.8 %.
"""


def padme(length: int) -> int:
    """Return the padded length for an unpadded length of at least 1."""
    if length < 1:
        raise ValueError("padme is defined for lengths of at least 1")
    e = length.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask
