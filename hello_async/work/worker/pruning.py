"""A worker's pruning passes: finished tasks past the retention, deleted from the heartbeat thread.

A pass starts at once, then at most once every ``PRUNE_EVERY`` seconds. Each beat deletes for an
eighth of the lease at most and leaves the rest of the pass to the next beats, so the heartbeat
that shares the thread keeps its pace. The deleting is hello_async.work.retention's.
"""

from __future__ import annotations

import logging
import time

from hello_async.work.worker.config import WorkerConfig

logger = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # a worker starts a pass over finished tasks at most this often (s)


class Pruner:
    def __init__(self, config: WorkerConfig, worker_id: str) -> None:
        self.config = config
        self.worker_id = worker_id
        self._due = 0.0  # time.monotonic() when the next pass may start
        self._in_pass = False  # a pass is under way, continued on the next beats

    def prune(self, *, now: float | None = None, batch_size: int | None = None) -> int:
        """Run the part of a pass that is due (``now``: time.monotonic()); how many it deleted."""
        from hello_async.work.retention import BATCH_SIZE, finished_tasks_prune_batches

        if self.config.retention <= 0:
            return 0
        if not self._in_pass:
            started = time.monotonic() if now is None else now
            if started < self._due:
                return 0
            self._in_pass = True
            self._due = started + PRUNE_EVERY
        stop_at = time.monotonic() + self.config.lease / 8
        size = batch_size or BATCH_SIZE
        deleted = 0
        for count in finished_tasks_prune_batches(
            older_than=self.config.retention, batch_size=size
        ):
            deleted += count
            if count < size:
                self._in_pass = False  # a short batch was the last
            elif time.monotonic() >= stop_at:
                break
        if deleted:
            logger.info(
                "Worker %s: deleted %d finished tasks older than %g s",
                self.worker_id,
                deleted,
                self.config.retention,
            )
        return deleted

    def prune_logged(self) -> None:
        """:meth:`prune`, its failure logged: the heartbeat thread must go on beating."""
        try:
            self.prune()
        except Exception:
            self._in_pass = False  # the next pass in an hour, not an error every beat
            logger.exception("Worker %s: pruning finished tasks failed", self.worker_id)
