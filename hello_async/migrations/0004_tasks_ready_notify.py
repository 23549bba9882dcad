"""On PostgreSQL, a task that becomes READY wakes the idle workers at once: NOTIFY from a trigger.

The trigger sends ``NOTIFY hello_async_task_ready, '{"backend", "queue", "run_after"}'`` when a row
of django-tasks-db's queue is inserted READY, or updated to READY (a retry, a give-back, the
reaper) or to another ``run_after`` while READY; hello_async.work.worker.wakeup listens. In the
database and not in the code that queues: every writer is covered (the web, the admin, a shell, the
workers themselves), and the notification leaves at commit, so the woken worker finds the row.
A no-op on other databases, whose workers poll.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

FUNCTION = "hello_async_task_ready_notify"

CREATE = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hello_async_task_ready', json_build_object(
        'backend', NEW.backend_name,
        'queue', NEW.queue_name,
        'run_after', extract(epoch FROM NEW.run_after)
    )::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER hello_async_task_ready_insert
    AFTER INSERT ON {table}
    FOR EACH ROW WHEN (NEW.status = 'READY')
    EXECUTE FUNCTION {function}();
CREATE TRIGGER hello_async_task_ready_update
    AFTER UPDATE OF status, run_after ON {table}
    FOR EACH ROW WHEN (
        NEW.status = 'READY'
        AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.run_after IS DISTINCT FROM NEW.run_after)
    )
    EXECUTE FUNCTION {function}();
"""

DROP = """
DROP TRIGGER IF EXISTS hello_async_task_ready_update ON {table};
DROP TRIGGER IF EXISTS hello_async_task_ready_insert ON {table};
DROP FUNCTION IF EXISTS {function}();
"""


def run(sql: str, apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("django_tasks_database", "DBTaskResult")._meta.db_table
    schema_editor.execute(
        sql.format(table=schema_editor.quote_name(table), function=FUNCTION), params=None
    )


def forwards(apps: Any, schema_editor: Any) -> None:
    run(CREATE, apps, schema_editor)


def backwards(apps: Any, schema_editor: Any) -> None:
    run(DROP, apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("hello_async", "0003_worker_exception_paths"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
