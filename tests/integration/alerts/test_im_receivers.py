"""IM bots refuse with HTTP 200 and an error body: such a send is a failure, never `sent`.

A loopback receiver speaks each platform's real answers (WeCom and DingTalk
`errcode`/`errmsg`, Feishu `code`/`msg`); the URLs are the ones authorities.toml
holds, pointed at loopback with `?base=`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from monitor.alerts.service import alerting_for
from monitor.clock import now_utc
from monitor.config import load_config
from monitor.storage.db import session_scope
from monitor.storage.models import Alert, AlertAttempt
from tests.conftest import Cli
from tests.integration.alerts.conftest import ImReceiver, write_alert_config

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "c7d1a3e5f9b2d4c6e8a0b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3"
DING_SECRET = "SEC0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
FEISHU_TOKEN = "2f8e6c4a-0b1d-4e3f-9a7c-5d2b8e1f4a6c"

OK_ERRCODE = {"errcode": 0, "errmsg": "ok"}
OK_FEISHU = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
# each platform's own refusals, as its bots send them
WECOM_BAD_KEY = {
    "errcode": 93000,
    "errmsg": "invalid webhook url, hint: [1733300000_5f0a], from ip: 203.0.113.7, "
    "more info at https://open.work.weixin.qq.com/devtool/query?e=93000",
}
DING_KEYWORD = {
    "errcode": 310000,
    "errmsg": "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
}
FEISHU_SIGN = {
    "code": 19021,
    "data": {},
    "msg": "sign match fail or timestamp is not within one hour from current time",
}
PLATFORMS = {
    "wecombot": (f"wecombot://{WECOM_KEY}", OK_ERRCODE, WECOM_BAD_KEY, "errcode=93000"),
    "dingtalk": (
        f"dingtalk://{DING_SECRET}@{DING_TOKEN}",
        OK_ERRCODE,
        DING_KEYWORD,
        "errcode=310000",
    ),
    "feishu": (f"feishu://{FEISHU_TOKEN}", OK_FEISHU, FEISHU_SIGN, "code=19021"),
}


def bot_url(platform: str, receiver: ImReceiver) -> str:
    return f"{PLATFORMS[platform][0]}?base={receiver.base}"


def owe_ops_one_alert(engine: Engine, path: Path) -> Any:
    alerting = alerting_for(engine, load_config(path, environ={}))
    with session_scope(engine) as session:
        alerting.outbox.tell_ops(session, "im:1", "机器人检查", "一条消息", now_utc())
    return alerting


def the_alert(engine: Engine) -> tuple[Alert, list[AlertAttempt]]:
    with Session(engine) as session:
        [alert] = session.scalars(select(Alert)).all()
        attempts = list(session.scalars(select(AlertAttempt).order_by(col(AlertAttempt.id))))
    return alert, attempts


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_the_platforms_own_success_answer_is_sent_and_the_request_is_the_platforms(
    platform: str, engine: Engine, database_url: str, tmp_path: Path, im_receiver: ImReceiver
) -> None:
    im_receiver.answer(200, PLATFORMS[platform][1])
    path = write_alert_config(tmp_path, database_url, {"ops": [bot_url(platform, im_receiver)]})
    report = owe_ops_one_alert(engine, path).dispatcher.dispatch_due()
    assert report.sent == 1 and report.retrying == 0
    alert, [attempt] = the_alert(engine)
    assert alert.status == "sent" and attempt.status == "success"
    [request] = im_receiver.received
    if platform == "wecombot":
        assert request["path"] == "/cgi-bin/webhook/send"
        assert request["query"]["key"] == [WECOM_KEY]
        assert "机器人检查" in request["json"]["text"]["content"]
    elif platform == "dingtalk":
        assert request["path"] == "/robot/send"
        assert request["query"]["access_token"] == [DING_TOKEN]
        # the bot's signing rule, checked as DingTalk checks it
        [stamp], [sign] = request["query"]["timestamp"], request["query"]["sign"]
        expected = hmac.new(
            DING_SECRET.encode(), f"{stamp}\n{DING_SECRET}".encode(), hashlib.sha256
        ).digest()
        assert base64.b64decode(sign) == expected
        assert request["json"]["msgtype"] == "markdown"
        assert "机器人检查" in request["json"]["markdown"]["title"]
    else:
        assert request["path"] == f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
        assert request["json"]["msg_type"] == "interactive"
        assert "机器人检查" in json.dumps(request["json"], ensure_ascii=False)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize(
    "answer",
    ["refused", "rate-limited", "server-error", "not-understood"],
)
def test_a_refusal_is_a_failure_with_the_receivers_code_and_message_then_retried(
    platform: str,
    answer: str,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    im_receiver: ImReceiver,
) -> None:
    _, accepted, refused, code = PLATFORMS[platform]
    status, body, said = {
        "refused": (200, refused, code),
        "rate-limited": (429, {"errcode": 45009, "errmsg": "api freq out of limit"}, "HTTP 429"),
        "server-error": (502, {"error": "bad gateway"}, "HTTP 502"),
        "not-understood": (200, {"result": "queued"}, "answer not understood"),
    }[answer]
    im_receiver.answers = [(status, body), (200, accepted)]
    path = write_alert_config(
        tmp_path,
        database_url,
        {"ops": [bot_url(platform, im_receiver)]},
        extra="retry_budget = 3\nbackoff_initial_s = 60\n",
    )
    alerting = owe_ops_one_alert(engine, path)
    first = alerting.dispatcher.dispatch_due()
    assert first.sent == 0 and first.retrying == 1
    alert, [attempt] = the_alert(engine)
    assert alert.status == "pending" and attempt.status == "failure"
    assert said in attempt.detail and said in (alert.last_error or "")
    if answer == "refused":  # the receiver's own message, word for word
        message = refused.get("errmsg") or refused["msg"]
        assert message.split(",")[0] in attempt.detail
    for secret in (WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN):
        assert secret not in attempt.detail
    assert alert.next_attempt_at is not None  # backing off, like any failure
    assert alerting.dispatcher.dispatch_due().sent == 0
    # once the backoff has passed the next attempt goes out, and the bot takes it
    again = alerting.dispatcher.dispatch_due(now=now_utc() + timedelta(minutes=2))
    assert again.sent == 1
    alert, attempts = the_alert(engine)
    assert alert.status == "sent" and [a.status for a in attempts] == ["failure", "success"]
    assert len(im_receiver.received) == 2


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_a_bot_that_keeps_refusing_leaves_the_alert_failed_after_its_retry_budget(
    platform: str, engine: Engine, database_url: str, tmp_path: Path, im_receiver: ImReceiver
) -> None:
    _, _, refused, code = PLATFORMS[platform]
    im_receiver.answer(200, refused)
    path = write_alert_config(
        tmp_path,
        database_url,
        {"ops": [bot_url(platform, im_receiver)]},
        extra="retry_budget = 2\nbackoff_initial_s = 0\n",
    )
    alerting = owe_ops_one_alert(engine, path)
    assert alerting.dispatcher.dispatch_due().retrying == 1
    spent = alerting.dispatcher.dispatch_due(now=now_utc() + timedelta(seconds=1))
    assert spent.failed == 1 and spent.sent == 0
    alert, attempts = the_alert(engine)
    assert alert.status == "failed" and code in (alert.last_error or "")
    assert [a.status for a in attempts] == ["failure", "failure"]


def test_a_retry_after_one_bot_refused_goes_only_to_that_bot(
    engine: Engine, database_url: str, tmp_path: Path, im_receiver: ImReceiver
) -> None:
    im_receiver.by_path = {"/robot/send": (200, DING_KEYWORD)}
    path = write_alert_config(
        tmp_path,
        database_url,
        {"ops": [bot_url("wecombot", im_receiver), bot_url("dingtalk", im_receiver)]},
        extra="backoff_initial_s = 0\n",
    )
    alerting = owe_ops_one_alert(engine, path)
    assert alerting.dispatcher.dispatch_due().retrying == 1
    im_receiver.by_path = {}
    assert alerting.dispatcher.dispatch_due(now=now_utc() + timedelta(seconds=1)).sent == 1
    paths = [request["path"] for request in im_receiver.received]
    assert paths == ["/cgi-bin/webhook/send", "/robot/send", "/robot/send"]


def test_notify_test_shows_each_bots_own_answer(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    im_receiver: ImReceiver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    im_receiver.by_path = {
        "/cgi-bin/webhook/send": (200, WECOM_BAD_KEY),
        "/robot/send": (200, DING_KEYWORD),
        "/open-apis/": (200, OK_FEISHU),
    }
    path = write_alert_config(
        tmp_path,
        database_url,
        {"110108": [bot_url(p, im_receiver) for p in ("wecombot", "dingtalk", "feishu")]},
    )
    monkeypatch.chdir(tmp_path)
    cli = Cli(capsys, path)
    result = cli("notify", "test", "海淀", "--json")
    assert result.code == 1
    urls = json.loads(result.out)["urls"]
    assert [u["status"] for u in urls] == ["failure", "failure", "success"]
    assert "errcode=93000" in urls[0]["detail"] and "invalid webhook url" in urls[0]["detail"]
    assert "errcode=310000" in urls[1]["detail"] and "keywords not in content" in urls[1]["detail"]
    shown = cli("notify", "test", "海淀")
    assert "errcode=93000" in shown.out and "errcode=310000" in shown.out
    for secret in (WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN):
        assert secret not in result.out + shown.out


def test_a_bot_that_does_not_answer_is_a_failure_after_the_configured_http_timeout(
    engine: Engine, database_url: str, tmp_path: Path, im_receiver: ImReceiver
) -> None:
    im_receiver.delay_s = 5
    path = write_alert_config(
        tmp_path,
        database_url,
        {"ops": [bot_url("wecombot", im_receiver)]},
        extra="http_timeout_s = 0.3\n",
    )
    report = owe_ops_one_alert(engine, path).dispatcher.dispatch_due()
    assert report.retrying == 1
    alert, [attempt] = the_alert(engine)
    assert alert.status == "pending" and "no answer (ReadTimeout" in attempt.detail
