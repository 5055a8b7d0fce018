"""A provider that wants every request signed: Token = MD5(key + timestamp + secret).

Several Chinese data providers (Qichacha's open API among them) authenticate
this way: the key goes in the query string, the Unix timestamp in a
`Timespan` header, and the upper-case MD5 hex of key + timestamp + secret in a
`Token` header. Config cannot express a per-request hash, hence a plugin:

    [[connectors]]
    name = "qcc"
    kind = "md5-signed"
    url = "https://api.example/ECIV4/GetBasicDetailsByName?keyword={credit_code}"
    [connectors.options]
    key = "${QCC_KEY}"
    secret = "${QCC_SECRET}"
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import BaseModel, ConfigDict

from connectors.errors import ConnectorSetupError
from connectors.http import HttpConnector
from connectors.settings import ConnectorSettings


class SignedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    secret: str
    key_param: str = "key"


def signature(key: str, timestamp: str, secret: str) -> str:
    return hashlib.md5(f"{key}{timestamp}{secret}".encode()).hexdigest().upper()


class SignedTokenAuth(httpx.Auth):
    """Signs each request as it is sent, so a retry carries a fresh timestamp."""

    def __init__(self, options: SignedOptions, clock: Callable[[], float] = time.time) -> None:
        self.options = options
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = str(int(self.clock()))
        request.url = request.url.copy_merge_params({self.options.key_param: self.options.key})
        request.headers["Timespan"] = timestamp
        request.headers["Token"] = signature(self.options.key, timestamp, self.options.secret)
        yield request


class SignedTokenConnector(HttpConnector):
    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            self.options = SignedOptions.model_validate(settings.options)
        except ValueError as exc:
            raise ConnectorSetupError(f"connector {settings.name}: options: {exc}") from exc
        self._clock = clock
        super().__init__(settings, transport=transport, url=url)

    def auth(self) -> httpx.Auth:
        return SignedTokenAuth(self.options, self._clock)
