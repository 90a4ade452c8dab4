"""SIGUSR1 makes a process write what each of its asyncio tasks waits on."""

from __future__ import annotations

import asyncio
import io
import os
import signal

from aegis.runtime.task_dump import dump_tasks, dump_tasks_on_sigusr1


async def _parked_on_an_event(event: asyncio.Event) -> None:
    await event.wait()


async def test_the_dump_names_each_task_and_the_await_it_is_parked_on() -> None:
    never = asyncio.Event()
    parked = asyncio.create_task(_parked_on_an_event(never), name="parked-session")
    await asyncio.sleep(0)
    out = io.StringIO()

    dump_tasks(out)

    text = out.getvalue()
    parked.cancel()
    assert "asyncio task(s)" in text.splitlines()[0]
    assert "--- task parked-session" in text
    assert "_parked_on_an_event" in text and "await event.wait()" in text


async def test_sigusr1_writes_the_dump_to_stderr(capsys: object) -> None:
    loop = asyncio.get_running_loop()
    dump_tasks_on_sigusr1(loop)
    try:
        never = asyncio.Event()
        parked = asyncio.create_task(_parked_on_an_event(never), name="parked-by-signal")
        await asyncio.sleep(0)
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(50):
            await asyncio.sleep(0.01)
        parked.cancel()
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "--- task parked-by-signal" in err
