from __future__ import annotations

from django.contrib import admin

from hello_async.models import SmokeRun


@admin.register(SmokeRun)
class SmokeRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "flavor", "meats", "duration", "created_at"]
    list_filter = ["flavor"]
