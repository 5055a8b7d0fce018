"""Everything alerting needs, built once from the config: authorities, outbox, dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from monitor.alerts.authorities import Authorities, load_authorities
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.outbox import Outbox
from monitor.alerts.render import Renderer
from monitor.config import LoadedConfig


@dataclass(frozen=True)
class Alerting:
    authorities: Authorities
    outbox: Outbox
    dispatcher: Dispatcher


def alerting_for(engine: Engine, config: LoadedConfig) -> Alerting:
    from monitor.clock import today_beijing
    from monitor.rules.policy import measures_in_force

    settings = config.settings.alerts
    authorities = load_authorities(config)
    renderer = Renderer(config.template_override, settings.language, settings.im_max_chars)
    dispatcher = Dispatcher(
        engine,
        authorities,
        settings,
        renderer,
        measures_in_force(config.settings.policy, today_beijing()),
    )
    return Alerting(authorities, Outbox(authorities, settings), dispatcher)
