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
