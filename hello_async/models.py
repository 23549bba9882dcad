from __future__ import annotations

from django.db import models


class SmokeRun(models.Model):
    """One run of the smoker: what /smoke_some_meats/ does, recorded (see smoke_runs.py)."""

    flavor = models.CharField(max_length=64)
    meats = models.PositiveSmallIntegerField()
    duration = models.FloatField(help_text="seconds")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.meats} meats with {self.flavor} ({self.duration:.2f} s)"


class TaskWorker(models.Model):
    """A live task worker, as its heartbeat says (see worker.py): who may still hold a task."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname} pid {self.pid})"


class SmokeLedger(models.Model):
    """The effect of a smoke order, recorded once per task however many times the task ran."""

    # The task's id: a second run of the same task (after a lost worker) finds its row here.
    idempotency_key = models.CharField(max_length=64, unique=True)
    meats = models.JSONField()
    flavor = models.CharField(max_length=64)
    attempt = models.PositiveSmallIntegerField(help_text="the run that recorded it")
    worker_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.idempotency_key}: {len(self.meats)} meats with {self.flavor}"
