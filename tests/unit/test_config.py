from pathlib import Path

import pytest

from monitor.config import load_config, mask_secrets
from monitor.errors import ConfigError
from monitor.i18n import using_language


@pytest.fixture(autouse=True)
def _forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets these tests make up stay theirs: the rest of the run does not mask them."""
    import monitor.config

    monkeypatch.setattr(monitor.config, "_KNOWN_SECRETS", set())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sfm.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_when_no_file_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SFM_CONFIG", raising=False)
    loaded = load_config(environ={})
    assert loaded.path is None
    assert loaded.settings.database.url == "sqlite:///var/sfm.db"


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="文件不存在"):
        load_config(tmp_path / "nope.toml", environ={})


def test_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurll = "sqlite://"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(path) in str(caught.value)
    assert "database.urll: 未知的配置项" in str(caught.value)
    with using_language("en"), pytest.raises(ConfigError, match=r"database\.urll: unknown key"):
        load_config(path, environ={})


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "allow_operator_override = 3\n[codes]\naccept = 'x'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert "allow_operator_override" in str(caught.value)
    assert "codes.accept" in str(caught.value)


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="不是有效的 TOML"):
        load_config(write(tmp_path, "[database\n"), environ={})


def test_env_references_are_substituted_and_masked(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://sfm:${DB_PASS}@db/sfm"\n')
    loaded = load_config(path, environ={"DB_PASS": "hunter2"})
    assert loaded.settings.database.url == "postgresql://sfm:hunter2@db/sfm"
    assert "hunter2" not in str(loaded.masked)


def test_missing_env_variable_names_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://sfm:${DB_PASS}@db/sfm"\n')
    with pytest.raises(ConfigError, match=r"database\.url：环境变量 DB_PASS"):
        load_config(path, environ={})


def test_database_url_from_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///a.db"\n')
    loaded = load_config(path, environ={"SFM_DATABASE_URL": "postgresql://u:pw@h/d"})
    assert loaded.settings.database.url == "postgresql://u:pw@h/d"
    assert loaded.masked["database"]["url"] == "postgresql://u:***@h/d"


def test_operator_scope_districts_are_resolved(tmp_path: Path) -> None:
    path = write(tmp_path, '[operators.li]\nname = "李"\nscope = ["海淀", "110302"]\n')
    assert load_config(path, environ={}).settings.operators["li"].scope == ["110108", "110302"]
    bad = write(tmp_path, '[operators.li]\nname = "李"\nscope = ["Springfield"]\n')
    with pytest.raises(ConfigError, match=r"operators\.li\.scope"):
        load_config(bad, environ={})


def test_mask_secrets_hides_url_passwords_only() -> None:
    assert (
        mask_secrets("mailtos://u:p4ss@mail.example?to=a@b")
        == "mailtos://u:***@mail.example?to=a@b"
    )
    assert mask_secrets("https://example.com/x") == "https://example.com/x"


def test_the_env_file_the_config_names_supplies_its_secrets(tmp_path: Path) -> None:
    (tmp_path / "env").write_text(
        "# secrets\nSFM_DATABASE_URL=postgresql://sfm:s3cret-pw@db/sfm\nSMTP_PASS='abc'\n",
        encoding="utf-8",
    )
    path = write(
        tmp_path,
        'env_file = "env"\n[operators.li]\nname = "${SMTP_PASS}"\nscope = "municipal"\n',
    )
    loaded = load_config(path, environ={})
    assert loaded.settings.database.url == "postgresql://sfm:s3cret-pw@db/sfm"
    assert loaded.settings.operators["li"].name == "abc"
    assert loaded.short_secrets == ("SMTP_PASS",)  # config check warns: shorter than 12
    # a three-character secret is masked all the same, and so is the URL's password
    assert mask_secrets("said abc and s3cret-pw") == "said *** and ***"
    # the process environment wins over the file
    overridden = load_config(path, environ={"SFM_DATABASE_URL": "sqlite:///x.db"})
    assert overridden.settings.database.url == "sqlite:///x.db"


def test_a_missing_or_unreadable_env_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, 'env_file = "/nonexistent/sfm/env"\n')
    with using_language("en"), pytest.raises(ConfigError, match="/nonexistent/sfm/env"):
        load_config(path, environ={})
