"""``python manage.py prune_tasks``: delete finished tasks past their retention, now.

The task workers do the same once an hour (see hello_async.work.retention); this is for a timer,
a one-off clean-up, or a retention shorter than the setting's (``--older-than``).
"""

from __future__ import annotations

import math
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hello_async.work.retention import finished_tasks_past, finished_tasks_prune


class Command(BaseCommand):
    help = (
        "Delete finished tasks (SUCCESSFUL or FAILED) that finished more than "
        "HELLO_ASYNC_TASK_RETENTION seconds ago, in batches."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            metavar="SECONDS",
            help="delete those finished longer ago than this (default: HELLO_ASYNC_TASK_RETENTION;"
            " 0 deletes every finished task)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )

    def handle(self, *args: Any, older_than: float | None, dry_run: bool, **options: Any) -> None:
        if older_than is None:
            older_than = float(settings.HELLO_ASYNC_TASK_RETENTION)
            if older_than == 0:
                self.stdout.write(
                    "HELLO_ASYNC_TASK_RETENTION is 0: finished tasks are kept for ever;"
                    " nothing deleted (--older-than SECONDS to delete some anyway)."
                )
                return
        if not (older_than >= 0 and math.isfinite(older_than)):
            raise CommandError(f"--older-than must be 0 or more seconds, not {older_than}")
        if dry_run:
            count = finished_tasks_past(older_than=older_than).count()
            self.stdout.write(f"Would delete {count} finished tasks older than {older_than:g} s.")
        else:
            count = finished_tasks_prune(older_than=older_than)
            self.stdout.write(f"Deleted {count} finished tasks older than {older_than:g} s.")
