"""Cut a client tor's circuits through its control socket: a dropped connection, as a source sees one.

A circuit closed by CLOSECIRCUIT ends every stream on it at once, as a relay
that goes away would: the browser's connection through the SOCKS port is
reset mid-request, and the next request makes the client build a new
rendezvous circuit. Uses tipline/ops/torcontrol.py's client (SAFECOOKIE auth).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tipline.ops.torcontrol import TorControl, TorControlError


@dataclass(frozen=True)
class Circuit:
    ident: str
    status: str  # LAUNCHED, BUILT, EXTENDED, ...
    purpose: str  # GENERAL, HS_CLIENT_REND, HS_CLIENT_INTRO, ...
    rend_query: str  # the onion's label (no .onion) for an onion service circuit, else ""


def circuits(control: Path) -> list[Circuit]:
    """GETINFO circuit-status, parsed (control-spec 4.1.1's CIRC lines)."""
    with TorControl(control) as tor:
        text = tor.getinfo("circuit-status")
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 2:
            continue
        keys = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        out.append(Circuit(words[0], words[1], keys.get("PURPOSE", ""), keys.get("REND_QUERY", "")))
    return out


def close_circuits(control: Path, onion: str | None = None) -> list[Circuit]:
    """Close the client's circuits to ONION (every one of its onion circuits), or all built circuits.

    Returns those closed. A circuit that closed by itself meanwhile is not an error."""
    label = onion.removesuffix(".onion") if onion else None
    chosen = [c for c in circuits(control) if (c.rend_query == label if label else c.status == "BUILT")]
    closed = []
    with TorControl(control) as tor:
        for c in chosen:
            try:
                tor.command(f"CLOSECIRCUIT {c.ident}")
            except TorControlError as e:
                if e.code != "552":  # "Unknown circuit": it went away by itself
                    raise
                continue
            closed.append(c)
    return closed
