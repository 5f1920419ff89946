"""The largest tips sent in parts in a real Chromium: 100 MB in both engines, 400 MB with WebAssembly.

Apart from test_source_uploads.py so that the suite's two workers (`--dist loadfile`) can
run them beside the rest: 100 MB without a JIT seals for minutes.
"""

from __future__ import annotations

import pytest

from tests.browser.uploads import (
    MIB,
    decrypted_file,
    make_file,
    records,
    send_file,
    sha256_of,
)

# -- 100 MB, pipelined, in both engines -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["wasm", "jitless"])
def test_a_100_mb_file_arrives_byte_for_byte(open_tab, fresh_site, keydir, tmp_path, mode):
    size = 100 * 1000 * 1000
    path = tmp_path / f"video-{mode}.mp4"
    digest = make_file(path, size, seed=100)
    tab = open_tab(mode, fresh_site, record_bodies=False)
    tab.goto("/")
    seconds = send_file(tab, path)
    print(f"\n100 MB, {mode}: sealed and sent in parts in {seconds:.1f} s ({size / MIB / seconds:.2f} MiB/s)")
    assert tab.problems() == []
    assert records(tab) == {}  # removed at the commit
    got = decrypted_file(fresh_site, keydir, tmp_path / "out", path.name)
    assert got.stat().st_size == size and sha256_of(got) == digest
    for p in (path, got):
        p.unlink()


@pytest.mark.slow
def test_a_400_mb_file_arrives_byte_for_byte(open_tab, fresh_site, keydir, tmp_path):
    size = 400 * 1000 * 1000
    path = tmp_path / "archive.zip"
    digest = make_file(path, size, seed=400)
    tab = open_tab("wasm", fresh_site, record_bodies=False)
    tab.goto("/")
    seconds = send_file(tab, path)
    print(f"\n400 MB, wasm: {seconds:.1f} s")
    got = decrypted_file(fresh_site, keydir, tmp_path / "out", path.name)
    assert got.stat().st_size == size and sha256_of(got) == digest
    for p in (path, got):
        p.unlink()
