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
from collections.abc import Callable, Mapping

import httpx
from pydantic import BaseModel, ConfigDict

from connectors.base import ConnectorError
from connectors.http import HttpConnector
from connectors.settings import ConnectorSettings


class SignedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    secret: str
    key_param: str = "key"


def signature(key: str, timestamp: str, secret: str) -> str:
    return hashlib.md5(f"{key}{timestamp}{secret}".encode()).hexdigest().upper()


class SignedTokenConnector(HttpConnector):
    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        status_map: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, status_map=status_map, transport=transport, url=url)
        try:
            self.options = SignedOptions.model_validate(settings.options)
        except ValueError as exc:
            raise ConnectorError(f"connector {settings.name}: options: {exc}") from exc
        self._clock = clock

    def build_request(self, credit_code: str) -> httpx.Request:
        request = super().build_request(credit_code)
        timestamp = str(int(self._clock()))
        request.url = request.url.copy_merge_params({self.options.key_param: self.options.key})
        request.headers["Timespan"] = timestamp
        request.headers["Token"] = signature(self.options.key, timestamp, self.options.secret)
        return request
