"""Provider text reaches officials as text: never HTML, a link or a formatting mark."""

from __future__ import annotations

from markdown import Markdown

from monitor.alerts.context import flag_context
from tests.unit.alerts.test_golden_text import context, rendered, revocation_flag

HOSTILE_NAME = "北京<script>alert(1)</script>[点此核实](http://evil.example)公司 | *急* @all"
HOSTILE_SUMMARY = (
    "<img src=x onerror=alert(1)>\n# 标题\n- 列表\n`code` _斜体_ <a href='http://evil'>链接</a>"
)


def hostile_alert() -> object:
    flag, factory = revocation_flag()
    factory.name = HOSTILE_NAME
    flag.summary_params = {**flag.summary_params, "summary": HOSTILE_SUMMARY}
    flag.evidence = {**flag.evidence, "summary": HOSTILE_SUMMARY}
    return rendered("flag", {**context(), **flag_context(flag, factory, deadline_days=10)})


def as_email_html(markdown_text: str) -> str:
    """What apprise makes of it for an email: python-markdown with its extensions."""
    return Markdown(extensions=["markdown.extensions.nl2br", "markdown.extensions.tables"]).convert(
        markdown_text
    )


def test_email_shows_markup_as_text() -> None:
    words = hostile_alert()
    page = as_email_html(words.full)  # type: ignore[attr-defined]
    for live in (
        "<script",
        "<img",
        "<a href",
        "<em>",
        "<code>code",
        "<h1",
        "<li>列表",
        "<strong>急",
    ):
        assert live not in page, live
    assert "&lt;script&gt;" in page
    assert "[点此核实](http://evil.example)" in page  # shown, not linked
    # the factory's row of the table is still one row
    assert page.count("<tr>") == 5


def test_im_shows_markup_as_text() -> None:
    words = hostile_alert()
    compact = words.compact  # type: ignore[attr-defined]
    assert HOSTILE_NAME not in compact
    for live in ("<", ">", "[", "](", "`code`", "@all", "_斜体_"):
        assert live not in compact.replace("`sfm flags show 7`", ""), live
    assert "＜script＞" in compact and "［点此核实］" in compact


def test_the_subject_is_one_plain_line() -> None:
    words = hostile_alert()
    subject = words.subject  # type: ignore[attr-defined]
    assert "\n" not in subject
    assert HOSTILE_NAME.split()[0] in subject  # plain text, unescaped: a mail header is no markup
