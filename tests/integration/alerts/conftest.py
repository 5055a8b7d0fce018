"""Real delivery peers for the alert tests: an SMTP server (aiosmtpd) and a webhook receiver."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mail:
    rcpt_tos: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return str(email.header.make_header(email.header.decode_header(self.message["Subject"])))

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode(part.get_content_charset() or "utf-8")
        return ""


class SmtpServer:
    """aiosmtpd on a fixed loopback port that a test can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[Mail] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(Mail(list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def url(self, to: str) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?user=sfm&from=sfm@jxj.beijing.gov.cn"
            f"&to={to}&mode=insecure"
        )


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Webhook:
    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0

    def url(self, name: str) -> str:
        return f"json://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(hook.delay_s)
            hook.received.append({"path": self.path, **json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


def write_alert_config(
    directory: Path, database_url: str, authorities: dict[str, list[str]], extra: str = ""
) -> Path:
    """sfm.toml and authorities.toml: the given URLs by authority key, others unreachable."""
    lines = []
    for key in ("municipal", "ops"):
        lines += [f"[{key}]", f'name = "{key}"', f"urls = {json.dumps(authorities.get(key, []))}"]
    for key, urls in authorities.items():
        if key not in ("municipal", "ops"):
            lines += [f"[districts.{key}]", f'name = "区{key}"', f"urls = {json.dumps(urls)}"]
    (directory / "authorities.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = directory / "sfm.toml"
    config.write_text(
        "allow_operator_override = true\n"
        '[operators.li]\nname = "李明"\nscope = "municipal"\n'
        f'[database]\nurl = "{database_url}"\n'
        f'[logging]\nfile = "{directory / "sfm.log"}"\n'
        '[alerts]\nauthorities = "authorities.toml"\n' + extra,
        encoding="utf-8",
    )
    return config


@dataclass
class ImReceiver:
    """A loopback stand-in for the WeCom, DingTalk and Feishu bot endpoints: it records each
    request and answers with the next scripted (HTTP status, JSON body), then the last one."""

    port: int
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    by_path: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    delay_s: float = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, status: int, body: dict[str, Any]) -> None:
        self.answers = [(status, body)]

    def next_answer(self, path: str) -> tuple[int, dict[str, Any]]:
        for prefix, answer in self.by_path.items():
            if path.startswith(prefix):
                return answer
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def im_receiver() -> Iterator[ImReceiver]:
    from urllib.parse import parse_qs, urlsplit

    receiver = ImReceiver(free_port(), answers=[(200, {"errcode": 0, "errmsg": "ok"})])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            where = urlsplit(self.path)
            receiver.received.append(
                {"path": where.path, "query": parse_qs(where.query), "json": json.loads(body)}
            )
            status, answer = receiver.next_answer(where.path)
            time.sleep(receiver.delay_s)
            text = json.dumps(answer, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
