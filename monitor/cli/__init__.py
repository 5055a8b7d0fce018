"""The `sfm` command: thin, every command calls a service and renders its answer."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from monitor.cli.common import AppContext
from monitor.errors import SfmError, one_line
from monitor.i18n import language, t

_last_context: AppContext | None = None
_command_words: tuple[str, ...] = ()

# Where each of sfm's words lives (module, attribute, whether it is a group of commands), in
# the order help lists them. A command line imports only the module its first word names:
# most of a client's time is its start-up. Help, and a word sfm does not know, load them all.
_PLACES: dict[str, tuple[str, str, bool]] = {
    "db": ("db_cmd", "app", True),
    "config": ("config_cmd", "app", True),
    "factories": ("factories", "app", True),
    "flags": ("flags_cmd", "app", True),
    "alerts": ("alerts_cmd", "app", True),
    "notify": ("alerts_cmd", "notify_app", True),
    "export": ("flags_cmd", "export_app", True),
    "audit": ("audit_cmd", "app", True),
    "check": ("check_cmd", "check", False),
    "simulator": ("check_cmd", "simulator", False),
    "status": ("check_cmd", "status", False),
    "run": ("run_cmd", "run", False),
    "init": ("init_cmd", "init", False),
}


def application(words: Sequence[str] = ()) -> typer.Typer:
    """The `sfm` command, holding the command its words name, or every command."""
    app = typer.Typer(
        name="sfm",
        help="Monitor of Beijing's designated smart factories (Article 12 of the 2025 measures).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(root)
    for word in [words[0]] if words[:1] and words[0] in _PLACES else _PLACES:
        module, attribute, group = _PLACES[word]
        found = getattr(importlib.import_module(f"monitor.cli.{module}"), attribute)
        if group:
            app.add_typer(found, name=word)
        else:
            app.command(word)(found)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole command, for tests and tools that walk it
        return application()
    raise AttributeError(name)


def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option("--config", help="Config file (default config/sfm.toml, or SFM_CONFIG)."),
    ] = None,
    socket: Annotated[
        str | None,
        typer.Option("--socket", help="The daemon's socket (default SFM_SOCKET, or the config's)."),
    ] = None,
) -> None:
    global _last_context
    ctx.obj = _last_context = AppContext(config_path=config, socket_path=socket)
    ctx.call_on_close(ctx.obj.close)
    if _command_words[:1] and _command_words[0] in LOCAL_COMMANDS and _command_words[0] != "init":
        _configure_logging(ctx.obj)


# Commands that run here, on this machine's config and database; every other command is a
# client of the daemon's API (its logs are the daemon's, or, without a daemon, the
# in-process runtime's).
LOCAL_COMMANDS = {"run", "init", "db", "config", "simulator"}


def _configure_logging(context: AppContext | None) -> None:
    from monitor.config import LoggingSettings
    from monitor.logs import configure_logging

    try:
        settings = context.config.settings.logging if context else LoggingSettings()
    except SfmError:  # the command itself reports the broken config
        settings = LoggingSettings(file="")
    try:
        configure_logging(settings)
    except OSError:  # a log file this user may not write: staff beside the daemon's log
        configure_logging(settings.model_copy(update={"file": ""}))


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code (DESIGN §7)."""
    global _command_words
    _command_words = _words(sys.argv[1:] if argv is None else argv)
    try:
        command = typer.main.get_command(application(_command_words))
        if language() == "zh":
            in_chinese(command, help_shown="--help" in _all_args(argv) or not _command_words)
        # not standalone: sfm shows usage errors itself, in the reader's language
        returned = command.main(
            args=None if argv is None else list(argv),
            prog_name="sfm",
            standalone_mode=False,
        )
        if isinstance(returned, int):  # not standalone, an Exit's code is returned (Ctrl-C: 130)
            return returned
    except typer.Exit as exit_:  # --help and the like
        return exit_.exit_code
    except typer.Abort:  # Ctrl-C at a prompt
        print(t("error.aborted"), file=sys.stderr)
        return 1
    except typer.TyperException as error:  # usage errors (2); no words at all: the help
        if type(error).__name__ == "NoArgsIsHelpError":
            print(error.format_message())
            return 0
        _show_usage_error(error)
        return error.exit_code
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except SfmError as error:
        print(f"sfm: {error}", file=sys.stderr)
        for detail in error.details:
            print(f"  {detail}", file=sys.stderr)
        return error.exit_code
    except Exception as error:  # one line on screen, the traceback in the log
        import os

        import structlog

        if _command_words[:1] and _command_words[0] in LOCAL_COMMANDS:
            _configure_logging(_last_context)
            structlog.get_logger("sfm.cli").exception("unexpected error", argv=argv or sys.argv)
        elif os.environ.get("SFM_DEBUG"):  # a client's own fault: its traceback on request
            import traceback

            traceback.print_exc()
        print(f"sfm: {one_line(error)}", file=sys.stderr)
        return 1
    return 0


def _show_usage_error(error: typer.TyperException) -> None:
    """A usage error as click would show it, in the reader's language."""
    context = getattr(error, "ctx", None)
    if context is not None:
        usage = context.get_usage()
        print(usage.replace("Usage: ", t("usage.usage"), 1), file=sys.stderr)
        print(t("usage.try_help", command=context.command_path, option="--help"), file=sys.stderr)
    print(t("usage.error", message=usage_error_text(error.format_message())), file=sys.stderr)


def usage_error_text(message: str) -> str:
    """click's words for a usage error, in Chinese where the reader's language is."""
    if language() != "zh":
        return message
    import re

    from monitor.cli.help_zh import USAGE_ERRORS_ZH

    for pattern, chinese in USAGE_ERRORS_ZH:
        matched = re.fullmatch(pattern, message.strip(), flags=re.DOTALL)
        if matched:
            words = {k: v or "" for k, v in matched.groupdict().items()}
            if words.get("maybe"):
                words["maybe"] = t("usage.did_you_mean", option=words["maybe"])
            return chinese.format(**words)
    return message


def _all_args(argv: Sequence[str] | None) -> Sequence[str]:
    return sys.argv[1:] if argv is None else argv


def in_chinese(command: Any, *, help_shown: bool = True) -> None:
    """Every help text of the command tree from the catalogue (monitor/cli/help_zh.py)."""
    from monitor.cli.help_zh import HELP_ZH

    for attribute in ("help", "short_help"):
        text = getattr(command, attribute, None)
        if text:
            setattr(command, attribute, HELP_ZH.get(text.strip(), text))
    for param in command.params:
        if getattr(param, "help", None):
            param.help = HELP_ZH.get(param.help.strip(), param.help)
    for sub in getattr(command, "commands", {}).values():
        in_chinese(sub, help_shown=False)
    if help_shown:  # typer's own words load rich, which a command that shows no help skips
        _typer_words_in_chinese(command)


def _typer_words_in_chinese(command: Any) -> None:
    from typer import rich_utils

    from monitor.cli.help_zh import HELP_ZH

    rich_utils.OPTIONS_PANEL_TITLE = "选项"
    rich_utils.ARGUMENTS_PANEL_TITLE = "参数"
    rich_utils.COMMANDS_PANEL_TITLE = "命令"
    rich_utils.ERRORS_PANEL_TITLE = "错误"
    rich_utils.DEFAULT_STRING = "[默认：{}]"
    rich_utils.REQUIRED_LONG_STRING = "[必填]"
    rich_utils.RICH_HELP = "运行 [blue]'{command_path} {help_option}'[/] 查看帮助。"
    _usage_in_chinese()
    _each(command, lambda each: setattr(each, "get_help_option", _translated(each, HELP_ZH)))


def _usage_in_chinese() -> None:
    """The usage line of every help: "用法：" (typer's formatter writes "Usage: " itself)."""
    from typer._click import formatting

    write_usage = formatting.HelpFormatter.write_usage
    if getattr(write_usage, "in_chinese", False):
        return

    def in_chinese(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        write_usage(self, prog, args, t("usage.usage") if prefix is None else prefix)

    in_chinese.in_chinese = True  # type: ignore[attr-defined]
    formatting.HelpFormatter.write_usage = in_chinese  # type: ignore[method-assign]


def _translated(command: Any, texts: dict[str, str]) -> Any:
    """The command's --help option, which click makes on each call with English help."""
    made = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = made(ctx)
        if option is not None and option.help:
            option.help = texts.get(option.help, option.help)
        return option

    return help_option


def _each(command: Any, do: Any) -> None:
    do(command)
    for sub in getattr(command, "commands", {}).values():
        _each(sub, do)


def _words(argv: Sequence[str]) -> tuple[str, ...]:
    """The command's words (`flags list`), without the global options before them."""
    words, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--config", "--socket"):
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    return tuple(words)


def main() -> None:
    import gc
    import os

    # Whatever sfm writes (the database, its WAL, logs, reports, the outbox) is its
    # user's alone, however it is started; systemd's UMask=0077 says the same.
    os.umask(0o077)
    words = _words(sys.argv[1:])
    client = not words or words[0] not in LOCAL_COMMANDS
    if client:
        # Nearly all a client's process makes is made by its start-up (modules, classes, the
        # config) and lives as long as the process. The cyclic collector walked it every 700
        # new objects while it grew and once more at exit: about 0.1 s of CPU of a `sfm flags
        # list` without a daemon (issue 20). It walks new objects every 50,000 instead (a long
        # command's garbage is still collected), and what is left at exit is left to the exit.
        gc.set_threshold(50_000, 10, 10)
    code = run()
    if client:
        gc.freeze()
    sys.exit(code)
