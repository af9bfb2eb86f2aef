"""One setup link per database, not per process (issue 15, part 1): a second replica (or a
restart) starting while no admin exists keeps the link the first one printed, instead of
voiding it; `authbridge setup-link` replaces a lost one."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.server import SETUP_LINK, AuthbridgeServer, run_cli


def _opens(link: str) -> bool:
    return httpx.get(link, timeout=10).status_code == 200


def test_a_second_replica_keeps_the_first_ones_setup_link(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with AuthbridgeServer(tmp_path / "a", database_url) as first:
        link = first.setup_link()
        with AuthbridgeServer(tmp_path / "b", database_url) as second:
            second.wait_for(
                lambda: "printed by the replica" in second.output, 20, "no pointer to the link"
            )
            # Only the digest is stored: the second replica cannot print the first's link.
            assert not SETUP_LINK.search(second.output)
            path = link.removeprefix(first.url)
            assert _opens(first.url + path)
            assert _opens(second.url + path)

        # A lost link: the operator asks for a new one, which voids the old.
        result = run_cli(["setup-link"], tmp_path / "a", first.env)
        assert result.returncode == 0, result.stderr
        fresh = SETUP_LINK.search(result.stdout)
        assert fresh is not None and fresh.group(1) != link
        assert _opens(fresh.group(1))
        assert not _opens(link)
