"""Whether the running tor is on the Tor network, or clearly off it and getting nowhere.

`tipline onion client-auth --install` waits for tor's own descriptor, which tor
builds only once it is on the network. On a tor that cannot reach the network
at all (a machine without a route out, a firewall that drops everything) that
wait is for nothing, so the command stops early, but only on what tor itself
reports over its control socket (control-spec: GETINFO status/bootstrap-phase,
network-liveness, status/circuit-established), and never while tor makes progress.

"Off the network and not making progress" means: for STALL_S seconds of samples in a row, every
sample had no circuit established, network liveness "down", and a bootstrap below 100 % that
never rose above the first sample's. A freshly started tor on a real network moves its bootstrap
or gets a live connection within seconds, and any such change starts the count again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tipline.ops.torcontrol import TorControl, TorControlError

STALL_S = 15.0


@dataclass(frozen=True)
class Sample:
    """What tor said about its network at one moment."""

    progress: int  # bootstrap percentage, 0-100
    live: bool  # network-liveness "up": tor has heard from the network recently
    circuit: bool  # status/circuit-established: tor has built a circuit

    @property
    def connected(self) -> bool:
        return self.circuit or self.live or self.progress >= 100


def sample(tor: TorControl) -> Sample | None:
    """Tor's network status now; None if this tor does not answer these keys (then never stop early)."""
    try:
        phase = tor.getinfo("status/bootstrap-phase")
        live = tor.getinfo("network-liveness").strip()
        circuit = tor.getinfo("status/circuit-established").strip()
    except TorControlError as e:
        if e.code:  # tor refused the key (an older or unusual tor): no basis for stopping early
            return None
        raise
    m = re.search(r"\bPROGRESS=(\d+)", phase)
    if m is None:
        return None
    return Sample(int(m.group(1)), live == "up", circuit == "1")


class Stall:
    """Fed one sample at a time (with the monotonic time it was taken), says when tor is clearly off
    the network and not making progress (the rule in this module's docstring)."""

    def __init__(self, window: float = STALL_S) -> None:
        self.window = window
        self._since: float | None = None
        self._first: Sample | None = None

    def stalled(self, s: Sample | None, now: float) -> bool:
        if s is None or s.connected or (self._first is not None and s.progress > self._first.progress):
            self._since, self._first = (None, None) if s is None or s.connected else (now, s)
            return False
        if self._first is None:
            self._since, self._first = now, s
        return now - self._since >= self.window
