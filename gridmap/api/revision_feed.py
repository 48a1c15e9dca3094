"""The data revision as it moves, for the event stream (``GET /events/revision``).

Every write announces its revision at commit (``NOTIFY gridmap_revision``, see
:mod:`gridmap.db.revisions`). One :class:`RevisionFeed` per app listens on its own psycopg asyncio
connection and wakes every subscriber; it also reads the revision every ``poll_s`` seconds, so a
notification lost while the connection was down delays subscribers by at most that long. Made on
first use inside the event loop that serves it, closed with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy import Engine

from gridmap.db.revisions import CHANNEL

log = logging.getLogger(__name__)

#: Seconds between reads of the revision besides the notifications, and before reconnecting.
POLL_S = 5.0


class RevisionFeed:
    def __init__(self, conninfo: str, poll_s: float = POLL_S):
        self.conninfo = conninfo
        self.poll_s = poll_s
        #: The newest revision seen (None until the first read).
        self.revision: int | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    @classmethod
    def for_engine(cls, engine: Engine) -> RevisionFeed:
        return cls(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="gridmap revision feed")

    async def next_after(self, seen: int | None, timeout: float) -> int | None:
        """The revision once it is newer than ``seen`` (any known revision when ``seen`` is None);
        None when that does not happen within ``timeout`` seconds."""
        self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.revision is None or (seen is not None and self.revision <= seen):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return None
        return self.revision

    def _publish(self, revision: int) -> None:
        if self.revision is None or revision > self.revision:
            self.revision = revision
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def _listen(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, application_name="gridmap events"
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    while True:
                        cursor = await conn.execute("SELECT revision FROM data_revision WHERE id = 1")
                        row = await cursor.fetchone()
                        assert row is not None  # the migrations create the single data_revision row
                        self._publish(int(row[0]))
                        async for notify in conn.notifies(timeout=self.poll_s):
                            with contextlib.suppress(ValueError):
                                self._publish(int(notify.payload))
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                log.warning("revision feed: %s; reconnecting in %.0f s", reason, self.poll_s)
                await asyncio.sleep(self.poll_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
