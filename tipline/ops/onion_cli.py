"""`tipline onion client-auth` and `tipline onion reload`: what they print (no Flask here).

The work is in tipline.ops.onion (key files) and tipline.ops.onion_live (tor itself);
errors are OnionError or TorControlError, which tipline.cli turns into a
plain message and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tipline.ops.onion import PLACEHOLDER, ClientAuth, OnionError, onion_from_hs_dir, onion_label
from tipline.ops.onion_live import Unconfirmed, install, reload


def client_auth(args: argparse.Namespace, hs: Path) -> int:
    installed = None
    unconfirmed: Unconfirmed | None = None
    if args.install:
        if args.onion_address:
            raise OnionError("--install reads the address from --hs-dir; leave out --onion-address.")
        try:
            auth, installed = install(args.name, hs, args.control_socket, max(args.wait, 0.0))
        except Unconfirmed as e:  # tor trusts this key now: its private half must still be handed out
            unconfirmed, auth = e, e.auth
        onion = auth.onion
    else:
        if args.onion_address:
            onion = onion_label(args.onion_address)
        else:
            onion = onion_from_hs_dir(hs)
            if onion is None and args.hs_dir:
                raise OnionError(f"Cannot read an onion address from {args.hs_dir / 'hostname'}.")
        auth = ClientAuth.generate(args.name, onion)
    written = auth.write(args.out) if args.out else None
    print(f"Client authorization for {auth.name} on the journalist onion service.\n")
    if installed:
        print(f"Server side: installed as {installed}; tor reloaded, and it now serves the journalist")
        print("onion only to authorized clients, this key among them (confirmed from its descriptor).")
    elif unconfirmed:
        print(f"Server side: installed as {unconfirmed.path}; tor reloaded, but has not confirmed")
        print("serving it yet (see the last line). The key below is the one tor now holds.")
    else:
        print(f"Server side: this line goes in {hs}/authorized_clients/{auth.name}.auth")
        print("(owner debian-tor, mode 0600), then: tipline onion reload")
        print(f"(or let this command do both and confirm: tipline onion client-auth {auth.name} --install)")
    print(auth.server_line)
    print(f"\nClient side, for {auth.name} only (a secret: hand it over privately).")
    print("In Tor Browser, paste this key when the journalist address asks for one:")
    print(auth.private_b32)
    print(f"or, for a tor client, save this line as {auth.name}.auth_private in its ClientOnionAuthDir:")
    print(auth.client_line)
    if written:
        print(f"\nWrote {written[0]} and {written[1]} (mode 0600).")
    if onion is None:
        print(
            f"\nThe journalist service's address is not known here: replace {PLACEHOLDER} with the "
            f"contents of {hs}/hostname without .onion (or pass --onion-address / --hs-dir).",
            file=sys.stderr,
        )
    if unconfirmed:
        raise unconfirmed
    return 0


def onion_reload(hs: Path, control_socket: Path) -> int:
    served = reload(hs, control_socket)
    if served.descriptor is None:
        print(
            "Tor reloaded, but has no descriptor for the journalist service yet (is it connected to "
            "the Tor network?). Run tipline onion reload again in a minute to check."
        )
        return 1
    if served.public:
        print(
            f"Tor reloaded, and serves the journalist onion WITHOUT client authorization: anyone with "
            f"its address can reach the login page. Add a key: tipline onion client-auth NAME --install "
            f"(authorized_clients/ in {hs} has no usable .auth file)."
        )
        return 1
    print("Tor reloaded, and serves the journalist onion only to clients holding an authorized key.")
    return 0
