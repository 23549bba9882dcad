"""Signals of the task queue beyond Django's own (``task_enqueued``, ``task_started``,
``task_finished``).

    task_requeued(task_id)   a task went back to READY to run again (a retry after it raised)
"""

from __future__ import annotations

from django.dispatch import Signal

task_requeued = Signal()
