"""The API without a daemon (development, demo, tests): the same operations, called in this
process by an httpx transport, as the user who owns the database. The CLI cannot tell the
difference, which is the point: one implementation of each command."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx

from monitor.api.protocol import OPERATOR_HEADER, PREFIX, RESULT_HEADER, language_of
from monitor.api.routes import (
    Call,
    Caller,
    Download,
    Router,
    answer,
    error_reply,
    json_default,
    table,
)
from monitor.errors import BadInput, SfmError, TooLarge
from monitor.i18n import Message, using_language

if TYPE_CHECKING:
    from monitor.runtime import Runtime


class InProcessTransport(httpx.BaseTransport):
    def __init__(self, runtime: Runtime, *, max_import_bytes: int) -> None:
        self.runtime = runtime
        self.max_import_bytes = max_import_bytes
        self.router = Router(table())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with using_language(language_of(request.headers.get("Accept-Language"))):
            try:
                return self._handle(request)
            except SfmError as error:
                status, data = error_reply(error)
                return _json(status, data)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode("ascii").partition("?")[0]
        if not path.startswith(PREFIX):
            raise BadInput(Message("api.no_route", method=request.method, path=unquote(path)))
        operation, args = self.router.find(request.method, path[len(PREFIX) :])
        upload: Path | None = None
        body: Any = None
        if operation.upload:
            upload = self._save(request)
        elif request.content:
            try:
                body = json.loads(request.content)
            except ValueError as exc:
                raise BadInput(Message("api.bad_json")) from exc
        call = Call(
            runtime=self.runtime,
            caller=Caller(
                os.getuid(), os.getpid(), os.getgid(), request.headers.get(OPERATOR_HEADER)
            ),
            args=args,
            params=dict(request.url.params),
            body=body,
            upload=upload,
        )
        try:
            status, result = answer(operation, call)
        finally:
            if upload is not None:
                upload.unlink(missing_ok=True)
        if isinstance(result, Download):
            try:
                content = result.path.read_bytes()
            finally:
                result.cleanup()
            return httpx.Response(
                200, content=content, headers={RESULT_HEADER: json.dumps(result.result)}
            )
        return _json(status, result)

    def _save(self, request: httpx.Request) -> Path:
        handle, name = tempfile.mkstemp(prefix="sfm-upload-")
        received = 0
        with os.fdopen(handle, "wb") as target:
            for chunk in request.stream:  # type: ignore[union-attr]
                received += len(chunk)
                if received > self.max_import_bytes:
                    Path(name).unlink(missing_ok=True)
                    raise TooLarge(Message("api.too_large", limit=self.max_import_bytes))
                target.write(chunk)
        return Path(name)


def _json(status: int, data: Any) -> httpx.Response:
    body = json.dumps(data, ensure_ascii=False, default=json_default).encode()
    return httpx.Response(status, content=body, headers={"Content-Type": "application/json"})
