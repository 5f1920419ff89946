import pytest
from hypothesis import given
from hypothesis import strategies as st

from tipline.format.padding import padme


@pytest.mark.parametrize(
    ("n", "padded"),
    [(1, 1), (2, 2), (3, 3), (9, 10), (100, 104), (1000, 1024), (65537, 67584), (10**6, 1015808)],
)
def test_known_values(n, padded):
    assert padme(n) == padded


@given(st.integers(min_value=1, max_value=2**40))
def test_never_shrinks_and_bounded_overhead(n):
    p = padme(n)
    assert p >= n
    assert (p - n) / n <= 0.118
    assert padme(p) == p  # padded lengths are fixed points


def test_overhead_bound_on_every_size_class():
    # The worst case of each power-of-two class is its first length.
    worst = max((padme(2**e + 1) - (2**e + 1)) / (2**e + 1) for e in range(0, 42))
    assert worst <= 0.118
    big = max((padme(2**e + 1) - (2**e + 1)) / (2**e + 1) for e in range(16, 32))
    assert big <= 0.032


def test_few_distinct_lengths():
    # Between 1 MiB and 2 MiB Padmé allows only 32 ciphertext sizes.
    assert len({padme(n) for n in range(2**20, 2**21, 97)}) <= 33


def test_rejects_zero():
    with pytest.raises(ValueError):
        padme(0)
