"""The `authbridge` command: `main` starts it; the commands are `authbridge.cli.main`'s."""

from __future__ import annotations

import gc

__all__ = ["main"]


def main() -> None:
    """Run the `authbridge` command (the console script and `python -m authbridge`).

    Loading the commands' modules (for `serve`, the whole service) makes about 200,000
    objects that live as long as the process. The cyclic garbage collector would walk all
    of them three or four times while they load, a fifth of a start-up's CPU, and free
    almost nothing (bench/README.md, bench_startup.py). So it waits until they are loaded,
    and what they made is then frozen out of its sight (`gc.freeze`): later collections walk
    only what was made since, such as what requests make.
    """
    gc.disable()
    try:
        from authbridge.cli.main import main as run
    finally:
        gc.freeze()
        gc.enable()
    run()
