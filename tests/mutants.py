"""Break security-relevant lines one at a time and check that the tests notice.

Each mutant replaces one snippet of the source with a weaker one, runs the
tests meant to catch it, and restores the file. A mutant "survives" when those
tests still pass: then a promise can break without the suite saying so.

Run it by hand, on a clean tree: `./dev mutants` (or `./dev mutants csrf-mac`).
It exits 1 if any mutant survives. It edits files in place and always puts
them back, even on Ctrl-C; `git status` afterwards should show nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    """One promise broken on purpose: edits (path, old, new), and the tests that must notice."""

    name: str
    why: str
    edits: tuple[tuple[str, str, str], ...]
    tests: tuple[str, ...]


def _m(name: str, why: str, path: str, old: str, new: str, *tests: str) -> Mutant:
    return Mutant(name, why, ((path, old, new),), tests)


WEB, STORE, OFFLINE, FORMAT = "tipline/web/", "tipline/store/", "tipline/offline/", "tipline/format/"
MUTANTS: list[Mutant] = [
    # The six that survived the audit of issue 9 (finding 12) ...
    _m(
        "csrf-mac-ignores-input",
        "one fixed CSRF token per install",
        WEB + "security.py",
        "hmac.new(self._secret, value.encode(), hashlib.sha256)",
        'hmac.new(self._secret, b"", hashlib.sha256)',
        "tests/web/test_csrf.py::test_each_cookie_has_its_own_token",
    ),
    _m(
        "journalist-no-origin-check",
        "the journalist app takes cross-site posts",
        WEB + "journalist.py",
        "def _check_post() -> None:\n    check_origin(request)\n",
        "def _check_post() -> None:\n",
        "tests/web/test_csrf.py::test_foreign_origin_refused_on_every_journalist_post",
    ),
    _m(
        "safe-name-lets-bidi-through",
        "right-to-left override kept in file names",
        OFFLINE + "names.py",
        '("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")',
        '("Cc", "Zl", "Zp", "Cs", "Co", "Cn")',
        "tests/offline/test_names.py::test_bidi_control_never_passes",
    ),
    _m(
        "safe-name-lets-devices-through",
        "CON, NUL, COM1 ... kept as file names",
        OFFLINE + "names.py",
        'if _WINDOWS_DEVICES.match(name.split(".")[0].rstrip(" ")):',
        "if False:",
        "tests/offline/test_names.py::test_windows_device_name_never_passes",
    ),
    Mutant(
        "throttle-constant",
        "the login throttle is one try a second, whatever came before",
        (
            (
                STORE + "throttle.py",
                "SHORT = Bucket(interval_ms=12_000, burst=5)",
                "SHORT = Bucket(interval_ms=1_000, burst=1)",
            ),
            (
                STORE + "throttle.py",
                "LONG = Bucket(interval_ms=360_000, burst=20)",
                "LONG = Bucket(interval_ms=1_000, burst=1)",
            ),
        ),
        ("tests/web/test_login_throttle.py::test_throttle_numbers",),
    ),
    _m(
        "plaintext-in-a-temp-file",
        "a no-JS upload's plaintext copied to TMPDIR and deleted",
        STORE + "submissions.py",
        "        self._spend(len(data))\n        return self._writer.write(data)\n",
        "        self._spend(len(data))\n        import tempfile\n\n"
        "        with tempfile.NamedTemporaryFile() as t:\n            t.write(data)\n            t.flush()\n"
        "        return self._writer.write(data)\n",
        "tests/web/test_source_http.py::test_no_js_submission_roundtrip_and_no_plaintext_on_disk",
    ),
    _m(
        "client-address-logged",
        "a 4xx logs the client's address",
        WEB + "app.py",
        "    def http_error(e: HTTPException):\n        return error_page(e.code or 500)\n",
        '    def http_error(e: HTTPException):\n        app.logger.error("from %s", request.remote_addr)\n'
        "        return error_page(e.code or 500)\n",
        "tests/web/test_logs.py::test_no_client_address_or_user_agent_in_log_or_database_on_any_answer",
    ),
    # ... and one for each promise that issue 9 made true.
    _m(
        "one-code-many-sessions",
        "a TOTP code is good more than once under parallel logins",
        STORE + "accounts.py",
        "Journalist.name == name, Journalist.last_totp_step < step",
        "Journalist.name == name",
        "tests/web/test_login_throttle.py::test_one_code_makes_one_session_under_parallel_logins",
    ),
    _m(
        "csrf-not-rotated",
        "the CSRF cookie survives a login",
        WEB + "journalist.py",
        "    t.csrf.rotate(resp)\n",
        "",
        "tests/web/test_csrf.py::test_csrf_cookie_is_rotated_at_login",
    ),
    Mutant(
        "request-path-in-the-log",
        "Flask logs the request path and a traceback",
        (
            (WEB + "security.py", "quote(request.path, safe=PATH_SAFE)", "request.path"),
            (WEB + "logs.py", "log_unexpected(self.logger, exc_info[1])", "super().log_exception(exc_info)"),
        ),
        ("tests/web/test_logs.py::test_forged_log_lines_never_reach_the_log",),
    ),
    _m(
        "log-lines-not-held",
        "a log line written the moment a request fails dates the source's visit",
        WEB + "app.py",
        "    hold_tipline_logs(settings.log_hold_s)",
        "    pass",
        "tests/web/test_logs.py::test_lines_a_request_causes_are_held_and_written_counted_at_the_period_end",
    ),
    _m(
        "meta-lone-surrogate",
        "envelope metadata with a lone surrogate accepted",
        FORMAT + "payload.py",
        "if not _is_scalar_text(name) or not _is_scalar_text(mtype):",
        "if False:",
        "tests/format/test_vectors.py",
        "tests/format/test_payload.py",
    ),
    _m(
        "compressed-bundle-read",
        "a gzip bomb reaches the tar reader",
        FORMAT + "ustar.py",
        "if pos == 0 and (kind := compression(block)):",
        "if False and (kind := ''):",
        "tests/format/test_bundle.py::test_compressed_bundle_refused",
        "tests/offline/test_bombs.py::test_gzip_bomb",
    ),
    _m(
        "decrypt-ignores-signals",
        "SIGTERM mid-decrypt leaves plaintext behind",
        OFFLINE + "cli.py",
        "        signal.signal(s, _on_signal)\n",
        "        pass\n",
        "tests/offline/test_decrypt_failures.py::test_signal_mid_decrypt_leaves_no_plaintext",
    ),
    _m(
        "sqlite-wal",
        "SQLite keeps a write-ahead log (arrival order, deleted rows)",
        STORE + "db.py",
        '"journal_mode=TRUNCATE",',
        '"journal_mode=WAL",',
        "tests/store/test_forensics.py::test_no_write_ahead_log_or_journal_holds_pages",
    ),
    _m(
        "no-vacuum",
        "pages keep their cells in arrival order",
        STORE + "db.py",
        'dbapi_connection.execute("VACUUM")',
        'dbapi_connection.execute("SELECT 1")',
        "tests/store/test_forensics.py::test_page_layout_is_what_the_rows_alone_give",
    ),
    _m(
        "times-not-rounded",
        "folders keep each tip's arrival to the nanosecond",
        STORE + "filetimes.py",
        "os.utime(path, ns=times, follow_symlinks=False)",
        "pass",
        "tests/store/test_forensics.py::test_every_path_keeps_its_times_to_the_hour",
    ),
    _m(
        "server-and-date-headers",
        "responses carry Server: gunicorn and the server's clock",
        "tipline/server.py",
        'return [h for h in super().default_headers() if not h.lower().startswith(("server:", "date:"))]',
        "return super().default_headers()",
        "tests/web/test_serving.py::test_no_server_or_date_header",
    ),
    _m(
        "serve-binds-anywhere",
        "tipline serve listens on a public address",
        "tipline/config.py",
        "    if not is_loopback_bind(bind):\n        raise ConfigError(",
        "    if False:\n        raise ConfigError(",
        "tests/web/test_serving.py::test_serve_refuses_a_public_bind",
    ),
    # The journalist app's replies (issue 10).
    _m(
        "reply-js-posts-plaintext",
        "the reply box sends the reply's text beside its envelope",
        WEB + "static/js/reply.js",
        'data.append("envelope", envelope, "reply.envelope");',
        'data.append("envelope", envelope, "reply.envelope");\n'
        '      data.append("message", form.elements.message.value);',
        "tests/browser/test_browser_replies.py::test_a_reply_sealed_in_the_browser",
    ),
    _m(
        "journalist-forms-spool-files",
        "a file part in a journalist form goes to Werkzeug's spooled temporary file",
        WEB + "reply_upload.py",
        'raise BadRequest("This address takes no files.")',
        "return super()._get_file_stream(total_content_length, content_type, filename, content_length)",
        "tests/web/test_journalist_conversations.py::test_a_file_part_in_a_reply_form_is_refused_never_spooled",
    ),
    _m(
        "reply-sealed-without-the-newsroom",
        "a reply typed with JavaScript off is sealed to the source alone",
        STORE + "replies.py",
        "return [source_key, *journalist_keys]",
        "return [source_key]",
        "tests/web/test_journalist_conversations.py::test_a_reply_without_javascript_is_sealed_in_memory_and_opens_for_both_sides",
    ),
    _m(
        "reply-member-unchecked",
        "a v2 manifest names any member as a reply's envelope",
        FORMAT + "manifest.py",
        "if env != (None if deleted else reply_member(rid)):",
        "if False:",
        "tests/offline/test_bundle_vectors.py::test_hostile_v2_manifest_refused_with_a_clear_error",
    ),
    _m(
        "source-key-swap-accepted",
        "a later bundle swaps a conversation's source key, and offline replies go to someone else",
        OFFLINE + "conversation.py",
        'elif record["source_public_key"] != key:',
        "elif False:",
        "tests/offline/test_conversation_bundles.py::"
        "test_a_bundle_that_changes_a_source_key_is_refused_for_that_conversation",
    ),
    _m(
        "offline-reply-source-only",
        "an offline reply the newsroom cannot read",
        OFFLINE + "reply.py",
        'return record["conversation"], [source, *newsroom]',
        'return record["conversation"], [source]',
        "tests/offline/test_reply.py::test_reply_opens_for_source_and_newsroom_and_comes_back_in_the_thread",
    ),
    _m(
        "thread-keeps-escapes",
        "thread.txt passes a source's terminal escape sequences through",
        OFFLINE + "thread.py",
        'ch if ch in "\\n\\t" or unicodedata.category(ch) not in ("Cc", "Cs") else "\\ufffd" for ch in text',
        "ch for ch in text",
        "tests/offline/test_conversation_bundles.py::test_export_carries_conversations_and_decrypt_writes_the_thread",
    ),
    _m(
        "sweep-skips-item-folders",
        "a killed run's plaintext stays in a conversation's item folder",
        OFFLINE + "decrypt.py",
        "                folders += subfolders(f)\n",
        "                pass\n",
        "tests/offline/test_conversation_bundles.py::test_stale_parts_are_swept_in_conversation_and_item_folders",
    ),
    # The source's side of conversations (issue 10).
    _m(
        "login-flood-queued",
        "codename logins wait for a slot instead of being refused, so a flood holds every thread",
        WEB + "login.py",
        "if not self._slots.acquire(blocking=False):",
        "if not self._slots.acquire():",
        "tests/web/test_conversation_http.py::test_login_flood_is_capped_and_the_form_keeps_working",
    ),
    _m(
        "session-cookie-lasts",
        "the source's session cookie outlives the browser",
        WEB + "srcsession.py",
        '            samesite="Strict",\n            path="/",\n',
        '            samesite="Strict",\n            path="/",\n            max_age=86400,\n',
        "tests/web/test_conversation_http.py::test_login_reads_a_reply_opened_in_memory",
    ),
    _m(
        "reply-rendered-as-html",
        "a reply's text is put into the page as HTML",
        WEB + "static/js/conversation.js",
        'li.querySelector(".reply-text").textContent = r.text;',
        'li.querySelector(".reply-text").innerHTML = r.text;',
        "tests/browser/test_source_conversation.py::test_log_in_read_delete_follow_up_and_leave",
    ),
    # Unnamed temporary files (docs/reliability.md "Hardening: unnamed temporary files").
    _m(
        "no-js-upload-spooled-unnamed",
        "a no-JS upload goes to Werkzeug's spool, an O_TMPFILE no folder watch sees",
        WEB + "uploads.py",
        "        return self.intake.server_item(meta)  # type: ignore[return-value]\n",
        "        return super()._get_file_stream(\n"
        "            total_content_length, content_type, filename, content_length\n"
        "        )\n",
        "tests/web/test_open_files.py::test_no_js_first_tip_with_a_large_file_holds_no_temporary_file",
        "tests/web/test_open_files.py::test_no_js_follow_up_with_a_large_file_holds_no_temporary_file",
    ),
    _m(
        "plaintext-in-unnamed-temp-file",
        "each piece of a no-JS upload copied to a TemporaryFile (O_TMPFILE) that lives a millisecond",
        STORE + "submissions.py",
        "        self._spend(len(data))\n        return self._writer.write(data)\n",
        "        self._spend(len(data))\n        import tempfile\n\n"
        "        with tempfile.TemporaryFile() as t:\n            t.write(data)\n            t.flush()\n"
        "        return self._writer.write(data)\n",
        "tests/web/test_open_files.py::test_no_js_first_tip_with_a_large_file_holds_no_temporary_file",
    ),
]


def _apply(m: Mutant) -> dict[Path, str]:
    """Write the mutant into its files; return each file's original text, to put back."""
    originals: dict[Path, str] = {}
    try:
        for rel, old, new in m.edits:
            path = ROOT / rel
            text = originals.get(path) or path.read_text("utf-8")
            originals.setdefault(path, text)
            current = path.read_text("utf-8")
            if current.count(old) != 1:
                raise SystemExit(
                    f"Mutant {m.name}: its snippet is not in {rel} exactly once; the code changed, "
                    "so update the mutant in tests/mutants.py."
                )
            path.write_text(current.replace(old, new), "utf-8")
    except BaseException:
        _restore(originals)
        raise
    return originals


def _restore(originals: dict[Path, str]) -> None:
    for path, text in originals.items():
        path.write_text(text, "utf-8")


def _run_tests(m: Mutant) -> tuple[int, float]:
    """pytest's exit code for the mutant's tests: 0 passed, 1 some failed, else they did not run."""
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # As CI does: every test that cannot run fails instead of skipping. A skip would let a
        # mutant "survive" on a machine that lacks a tool; the run on the code as it is catches it.
        env={**os.environ, "CI": "true"},
    )
    return r.returncode, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="mutants to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:32} {m.why}")
        return 0
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        print(f"No such mutant: {', '.join(sorted(unknown))}. See --list.", file=sys.stderr)
        return 2
    # Restore the file on SIGTERM/SIGHUP as on Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    # First the same tests on the code as it is: a mutant counts as caught only if they pass there.
    tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
    code, seconds = _run_tests(Mutant("none", "the code as it is", (), tests))
    if code != 0:
        print(
            f"The mutants' tests fail on the code as it is (pytest exit {code}, {seconds:.0f} s): "
            f"run ./dev test {' '.join(tests)} and fix that first.",
            file=sys.stderr,
        )
        return 1
    print(f"{len(tests)} tests pass on the code as it is ({seconds:.0f} s); now each mutant:", flush=True)
    survived, broken = [], []
    for m in chosen:
        originals = _apply(m)
        try:
            code, seconds = _run_tests(m)
        finally:
            _restore(originals)
        # Exit code 1 is "tests failed": caught. Anything else but 0 (a collection error, an
        # interrupted run) means the mutant broke the code itself, which proves nothing.
        verdict = {0: "SURVIVED", 1: "caught"}.get(code, "BROKEN")
        print(f"{verdict:9} {m.name:32} {seconds:6.1f} s  {m.why}", flush=True)
        (survived if code == 0 else broken if code != 1 else []).append(m.name)
    caught = len(chosen) - len(survived) - len(broken)
    print(f"{caught} caught, {len(survived)} survived, {len(broken)} did not run")
    return 1 if survived or broken else 0


if __name__ == "__main__":
    sys.exit(main())
