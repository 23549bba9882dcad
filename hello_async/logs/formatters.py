"""The console's lines as Uvicorn prints them, or one JSON object per line.

Uvicorn's own formatters copy every record to add their fields; these build the same lines from
the record as it is, with each level's prefix (coloured when the console is a terminal, as
Uvicorn colours it) made once. A record may carry several lines (the smoking of one request's
meats is one record): each line is printed as a line of its own, with its prefix.
"""

from __future__ import annotations

import http
import json
import logging
import sys
from datetime import UTC, datetime

from uvicorn.logging import AccessFormatter, DefaultFormatter

STATUS_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}


class ConsoleFormatter(logging.Formatter):
    """``INFO:     message``: Uvicorn's default lines."""

    def __init__(self, *, use_colors: bool | None = None) -> None:
        super().__init__()
        colors = sys.stderr.isatty() if use_colors is None else use_colors
        self._uvicorn = DefaultFormatter("%(levelprefix)s %(message)s", use_colors=colors)
        self._prefixes: dict[int, str] = {}

    def prefix(self, record: logging.LogRecord) -> str:
        prefix = self._prefixes.get(record.levelno)
        if prefix is None:  # the level's first line: Uvicorn's prefix, as its formatter makes it
            probe = logging.makeLogRecord(
                {"levelno": record.levelno, "levelname": record.levelname, "msg": ""}
            )
            prefix = self._prefixes[record.levelno] = self._uvicorn.format(probe)
        return prefix

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        prefix = self.prefix(record)
        if "\n" in message:
            text = "\n".join(prefix + line for line in message.split("\n"))
        else:
            text = prefix + message
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


class ConsoleAccessFormatter(ConsoleFormatter):
    """``INFO:     127.0.0.1:5000 - "GET / HTTP/1.1" 200 OK``: Uvicorn's access lines."""

    def __init__(self, *, use_colors: bool | None = None) -> None:
        super().__init__(use_colors=use_colors)
        colors = sys.stdout.isatty() if use_colors is None else use_colors
        self._access = AccessFormatter(
            '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            use_colors=colors,
        )

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5 or self._access.use_colors:
            return self._access.format(record)  # anything else, or colours: Uvicorn's own
        client_addr, method, full_path, http_version, status = args
        phrase = STATUS_PHRASES.get(status, "")  # type: ignore[call-overload]
        return (
            f'{self.prefix(record)}{client_addr} - "{method} {full_path} HTTP/{http_version}" '
            f"{status} {phrase}"
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id."""

    def format(self, record: logging.LogRecord) -> str:
        common = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
        }
        lines = [{**common, "message": line} for line in record.getMessage().split("\n")]
        if record.exc_info:
            lines[-1]["exception"] = self.formatException(record.exc_info)
        return "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
