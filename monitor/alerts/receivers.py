"""IM bots that answer HTTP 200 when they refuse a message: a send counts only if accepted.

WeCom and DingTalk bots refuse a message (bad key, keyword or IP rule, rate limit)
with HTTP 200 and a body such as {"errcode":93000,"errmsg":"..."}; Feishu and Lark
with {"code":19021,"msg":"..."}. apprise 2.3's `wecombot` and `dingtalk` plugins
look only at the status, so a refused revocation alert was recorded as sent.

These are apprise plugins of sfm's own, registered for the same schemas
(`wecombot://`, `dingtalk://`, `feishu://`, `lark://`) in place of apprise's:
each subclasses apprise's plugin for the platform, so a URL is read, checked and
shown (privacy form, masked tokens) exactly as before, and only the sending is
sfm's: post, then read the receiver's answer. Anything but the platform's own
success answer is a failure, logged as a warning with the receiver's code and
message (apprise hands its warnings back with the result, so they are recorded
in the attempt, masked like every detail).

`?base=https://host[:port]` sends to another host than the platform's cloud one:
a private deployment (政务微信, 专有钉钉, a private Feishu), or a loopback receiver
in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from apprise import NotifyFormat
from apprise.exception import AppriseImproperlyConfigured
from apprise.manager_plugins import NotificationManager
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.feishu import NotifyFeishu
from apprise.plugins.lark import NotifyLark
from apprise.plugins.wecombot import NotifyWeComBot

# A receiver's answer is a short JSON object; more than this is not read.
ANSWER_MAX_BYTES = 64 * 1024
# The receiver's own message, as recorded: enough to tell one refusal from another.
MESSAGE_MAX_CHARS = 300


def _origin(base: str | None, default: str) -> str:
    if not base:
        return default
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        raise AppriseImproperlyConfigured(f"base must be http(s)://host[:port], not {base!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_MAX_CHARS else text[:MESSAGE_MAX_CHARS] + "…"


class _ReadsTheAnswer:
    """What the four plugins share: post JSON, read at most ANSWER_MAX_BYTES of the
    answer, and accept only the platform's own success answer."""

    service_name: str
    cloud_origin: str
    base: str | None
    origin: str
    # (code field, message field) of the platform's answers; the first pair present
    # in the answer decides, and its code must be 0
    answer_fields: tuple[tuple[str, str], ...] = (("errcode", "errmsg"),)

    # the apprise plugin this one is mixed into provides these (annotations only: nothing
    # here may shadow them)
    logger: Any
    app_id: str
    verify_certificate: bool
    socket_connect_timeout: float
    socket_read_timeout: float
    throttle: Callable[[], None]

    def _set_base(self, base: str | None) -> None:
        self.base = base or None
        self.origin = _origin(self.base, self.cloud_origin)

    def _with_base(self, url: str) -> str:
        if not self.base:
            return url
        return url + ("&" if "?" in url else "?") + urlencode({"base": self.base})

    def url(self, *args: Any, **kwargs: Any) -> str:
        """apprise's own URL for the bot, with its `base` kept (a private deployment)."""
        return self._with_base(super().url(*args, **kwargs))  # type: ignore[misc]

    def _post(
        self, url: str, payload: dict[str, Any], params: dict[str, str] | None = None
    ) -> bool:
        self.throttle()
        timeout = httpx.Timeout(self.socket_read_timeout, connect=self.socket_connect_timeout)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"User-Agent": self.app_id, "Content-Type": "application/json; charset=utf-8"}
        try:
            with (
                httpx.Client(timeout=timeout, verify=self.verify_certificate) as client,
                client.stream("POST", url, content=body, headers=headers, params=params) as answer,
            ):
                raw = b""
                for chunk in answer.iter_bytes():
                    raw += chunk
                    if len(raw) > ANSWER_MAX_BYTES:
                        break
                status = answer.status_code
        except httpx.HTTPError as exc:
            self.logger.warning(f"{self.service_name}: no answer ({type(exc).__name__}: {exc})")
            return False
        refusal = self._refusal(status, raw)
        if refusal is not None:
            self.logger.warning(f"{self.service_name} refused the message: {refusal}")
            return False
        self.logger.info(f"{self.service_name} accepted the message.")
        return True

    def _refusal(self, status: int, raw: bytes) -> str | None:
        """None if the answer is the platform's success, else what the receiver said."""
        try:
            answer = json.loads(raw[:ANSWER_MAX_BYTES].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            answer = None
        said = None
        if isinstance(answer, dict):
            for code_field, message_field in self.answer_fields:
                if code_field in answer:
                    code, message = answer[code_field], answer.get(message_field, "")
                    if status == 200 and code == 0 and not isinstance(code, bool):
                        return None
                    said = f"{code_field}={_short(code)} {message_field}={_short(message)}"
                    break
        if said is None:
            text = raw[:MESSAGE_MAX_CHARS].decode("utf-8", "replace")
            said = f"answer not understood: {_short(text) or '(empty)'}"
        return said if status == 200 else f"HTTP {status}, {said}"


class WeComBot(_ReadsTheAnswer, NotifyWeComBot):  # type: ignore[misc]
    """`wecombot://KEY`: a WeCom group bot; success is {"errcode":0,...}."""

    cloud_origin = "https://qyapi.weixin.qq.com"

    def __init__(self, key: str, base: str | None = None, **kwargs: Any) -> None:
        super().__init__(key, **kwargs)
        self._set_base(base)

    def send(self, body: str, title: str = "", *args: Any, **kwargs: Any) -> bool:
        return self._post(
            f"{self.origin}/cgi-bin/webhook/send",
            {"msgtype": "text", "text": {"content": body}},
            {"key": self.key},
        )

    @staticmethod
    def parse_url(url: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return _base_from_query(NotifyWeComBot.parse_url(url))


class DingTalkBot(_ReadsTheAnswer, NotifyDingTalk):  # type: ignore[misc]
    """`dingtalk://TOKEN[/SECRET][/MOBILE...]`: a DingTalk group bot, signed when it has a
    secret; success is {"errcode":0,...}."""

    cloud_origin = "https://oapi.dingtalk.com"

    def __init__(self, *args: Any, base: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_base(base)

    def send(
        self,
        body: str,
        title: str = "",
        *args: Any,
        body_format: NotifyFormat | None = None,
        **kwargs: Any,
    ) -> bool:
        payload: dict[str, Any] = {"at": {"atMobiles": self.targets, "isAtAll": False}}
        if body_format == NotifyFormat.MARKDOWN:
            heading = " ".join(title.split()).lstrip("#- ") or self.app_desc
            payload |= {
                "msgtype": "markdown",
                "markdown": {"title": heading, "text": f"# {heading}\n{body}"},
            }
        else:
            payload |= {
                "msgtype": "text",
                "text": {"content": f"{title}\n{body}" if title else body},
            }
        params = {"access_token": self.token}
        if self.secret:
            # the bot's signing rule: HMAC-SHA256 of "timestamp\nsecret", keyed by the secret
            stamp = str(round(time.time() * 1000))
            digest = hmac.new(
                self.secret.encode(), f"{stamp}\n{self.secret}".encode(), hashlib.sha256
            ).digest()
            params |= {"timestamp": stamp, "sign": base64.b64encode(digest).decode()}
        return self._post(f"{self.origin}/robot/send", payload, params)

    @staticmethod
    def parse_url(url: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return _base_from_query(NotifyDingTalk.parse_url(url))


class _FeishuLike(_ReadsTheAnswer):
    # today's answers carry code/msg; older bots answer StatusCode/StatusMessage
    answer_fields = (("code", "msg"), ("StatusCode", "StatusMessage"))
    token: str
    app_desc: str

    def __init__(self, token: str, base: str | None = None, **kwargs: Any) -> None:
        super().__init__(token, **kwargs)  # type: ignore[call-arg]
        self._set_base(base)

    def send(self, body: str, title: str = "", *args: Any, **kwargs: Any) -> bool:
        card = {
            "header": {"title": {"tag": "plain_text", "content": title or self.app_desc}},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": body}}],
        }
        return self._post(
            f"{self.origin}/open-apis/bot/v2/hook/{self.token}",
            {"msg_type": "interactive", "card": card},
        )


class FeishuBot(_FeishuLike, NotifyFeishu):  # type: ignore[misc]
    """`feishu://TOKEN`: a Feishu group bot; success is {"code":0,...}."""

    cloud_origin = "https://open.feishu.cn"

    @staticmethod
    def parse_url(url: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return _base_from_query(NotifyFeishu.parse_url(url))


class LarkBot(_FeishuLike, NotifyLark):  # type: ignore[misc]
    """`lark://TOKEN`: Feishu's international edition, the same answers."""

    cloud_origin = "https://open.larksuite.com"

    @staticmethod
    def parse_url(url: str, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        return _base_from_query(NotifyLark.parse_url(url))


def _base_from_query(results: dict[str, Any] | None) -> dict[str, Any] | None:
    if results and results.get("qsd", {}).get("base"):
        results["base"] = results["qsd"]["base"]
    return results


PLUGINS = (WeComBot, DingTalkBot, FeishuBot, LarkBot)


def register(manager: NotificationManager) -> None:
    """Put these plugins in place of apprise's for their schemas (idempotent)."""
    for plugin in PLUGINS:
        if plugin.secure_protocol not in manager or manager[plugin.secure_protocol] is not plugin:
            manager.add(plugin, force=True)
