"""The rule that lets `tipline onion client-auth --install` stop early (tipline.ops.tor_network): only
a tor that is off the network and getting nowhere for the whole window, never one that progresses.

The samples are what a real tor reports (tests/tor/test_tor_offline.py reads them from one)."""

from __future__ import annotations

from tipline.ops.tor_network import STALL_S, Sample, Stall

OFFLINE = Sample(progress=0, live=False, circuit=False)  # tor in a namespace with only loopback


def feed(samples: list[tuple[float, Sample | None]]) -> list[bool]:
    stall = Stall()
    return [stall.stalled(s, t) for t, s in samples]


def test_offline_for_the_whole_window_stalls():
    assert feed([(0, OFFLINE), (STALL_S - 0.5, OFFLINE), (STALL_S, OFFLINE)]) == [False, False, True]


def test_bootstrap_that_rises_starts_the_window_again():
    rising = [(float(t), Sample(5 * t, False, False)) for t in range(0, 20, 2)]  # 0, 5, ... 45 %
    assert not any(feed(rising))
    then_stuck = [
        *rising,
        (18 + STALL_S - 1, Sample(45, False, False)),
        (18 + STALL_S, Sample(45, False, False)),
    ]
    assert feed(then_stuck)[-2:] == [False, True]


def test_a_bootstrap_that_falls_back_is_no_progress():
    assert feed([(0, Sample(10, False, False)), (STALL_S, Sample(0, False, False))]) == [False, True]


def test_any_sign_of_the_network_never_stalls():
    for connected in (Sample(100, False, False), Sample(10, True, False), Sample(10, False, True)):
        assert connected.connected
        samples = [
            (0.0, OFFLINE),
            (1.0, connected),
            (2.0, OFFLINE),
            (1.0 + STALL_S, OFFLINE),
            (2.0 + STALL_S, OFFLINE),
        ]
        assert feed(samples) == [False, False, False, False, True], connected
        assert not any(feed([(float(t), connected) for t in range(0, 40, 5)]))


def test_a_tor_that_does_not_say_never_stalls():
    assert not any(feed([(0, OFFLINE), (STALL_S, None), (2 * STALL_S, OFFLINE)]))
