"""Run a fake router on a thread of its own, for blocking clients and servers
shared across event loops."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator

from ._server import FakeOrqServer


@contextlib.contextmanager
def serve_in_thread(server: FakeOrqServer | None = None) -> Iterator[FakeOrqServer]:
    """Run a fake router on its own thread and event loop while the block runs.

    For blocking clients (:class:`~orq_async.Orq`), subprocesses, and servers
    shared by tests that each run on their own event loop::

        with serve_in_thread(FakeOrqServer(api_key="k")) as server:
            with Orq(api_key="k", server_url=server.url) as orq:
                orq.router.completions.create(model="m", prompt="hi")

    :meth:`FakeOrqServer.enqueue`, :meth:`FakeOrqServer.clear` and the recorded
    requests work from any thread; :meth:`FakeOrqServer.wait_for_disconnect`
    belongs to the server's own loop.

    :param server: the (not yet started) server to run; a default one if omitted.
    :return: the started server.
    :raises OSError: the server could not listen (the address is taken).
    """
    server = server if server is not None else FakeOrqServer()
    ready = threading.Event()
    failed: list[BaseException] = []
    stop: list[Callable[[], object]] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        try:
            await server.start()
        except Exception as exc:  # reported to the caller's thread
            failed.append(exc)
            ready.set()
            return
        try:
            stop.append(lambda: loop.call_soon_threadsafe(done.set))
            ready.set()
            await done.wait()
        finally:
            await server.aclose()

    thread = threading.Thread(
        target=lambda: asyncio.run(run()), name="fake-orq-router", daemon=True
    )
    thread.start()
    while not ready.wait(0.05):
        if not thread.is_alive():
            raise RuntimeError("the fake router's thread ended before it started")
    if failed:
        thread.join()
        raise failed[0]
    try:
        yield server
    finally:
        stop[0]()
        thread.join()
