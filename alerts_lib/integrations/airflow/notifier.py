"""``AlertNotifier``: alerts_lib as an Airflow notifier, the way the Slack provider's notifier is used.

    on_failure_callback=[AlertNotifier(mention="<!subteam^S1>", destination="oncall"), other_notifier]

Subclasses Airflow 3's ``airflow.sdk.bases.notifier.BaseNotifier`` (Airflow 2.6+:
``airflow.notifications.basenotifier.BaseNotifier``): ``text``, ``mention``, ``destination``, ``conn_id`` and
``extra_fields`` are Jinja templates rendered from the context, then the alert is queued and waited for like
:func:`alert_slack`'s (bounded), once per failure. Unlike the provider's, it never raises, so the notifiers
after it in a list still run, and a notifier shared by many tasks renders each context afresh.

Works where Airflow's own ``BaseNotifier`` fails: as a DAG-level callback under ``airflow dags test`` on 3.3.2
the context's ``dag`` is a ``SerializedDAG`` without ``get_template_env`` (Airflow #64649); templates are then
rendered in a plain sandboxed environment.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..._text import to_text
from .callbacks import run_callback
from .context import EVENTS, Event, FieldsOrFactory, context_alert, is_dag_level, mapping, read, state_text
from .delivery import DEFAULT_TIMEOUT, Target, bounded_timeout

try:  # Airflow 3
    from airflow.sdk.bases.notifier import BaseNotifier
except ImportError:  # Airflow 2.6+
    from airflow.notifications.basenotifier import BaseNotifier

logger = logging.getLogger("alerts_lib.airflow")

TEMPLATE_FIELDS = ("text", "mention", "destination", "conn_id", "extra_fields")


class AlertNotifier(BaseNotifier):  # type: ignore[misc]
    """Send alerts_lib's Airflow alert for the callback's context.

    ``event``: "failed", "retry" or "success"; None reads it from the context (a DAG's ``reason``, the task
    instance's state). ``text`` replaces the headline (escaped like every value; mentions go in ``mention``).
    ``destination`` (an ``ALERTS_CONFIG`` name), ``conn_id`` (a Connection) or ``webhook_url`` choose where
    it goes (default: ``SLACK_WEBHOOK_URL`` or the default Connection). ``extra_fields`` adds fields (a
    mapping, or a function of the context). ``timeout`` bounds the wait for delivery (≤ ``MAX_TIMEOUT``).
    """

    template_fields: Sequence[str] = TEMPLATE_FIELDS

    def __init__(
        self,
        *,
        event: Event | None = None,
        text: str | None = None,
        mention: str | None = None,
        destination: str | None = None,
        conn_id: str | None = None,
        webhook_url: str | None = None,
        extra_fields: FieldsOrFactory = None,
        timeout: float = DEFAULT_TIMEOUT,
        env: str | None = None,
    ) -> None:
        super().__init__()
        self.event = event if event in EVENTS else None
        self.text = text
        self.mention = mention
        self.destination = destination
        self.conn_id = conn_id
        self.extra_fields = extra_fields
        self.timeout = bounded_timeout(timeout)
        self.env = env
        self._webhook_url = webhook_url  # a secret: not templated, not in the context, not in a repr
        if callable(extra_fields):  # Airflow would call it as a template callable (context=, jinja_env=)
            self.template_fields = tuple(f for f in TEMPLATE_FIELDS if f != "extra_fields")
        self._templates = {name: getattr(self, name) for name in self.template_fields}

    def __repr__(self) -> str:
        return f"AlertNotifier(event={self.event!r}, destination={self._templates.get('destination')!r})"

    # -- rendering -------------------------------------------------------------------------------------------

    def get_template_env(self, dag: Any = None) -> Any:
        """The DAG's Jinja environment, or a sandboxed one when the DAG has none (a ``SerializedDAG``)."""
        if dag is not None and not callable(getattr(dag, "get_template_env", None)):
            dag = None
        return super().get_template_env(dag=dag)

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render from the original templates each time (Airflow renders in place, once); on a template
        error, log it and keep the raw text: the alert matters more than its decoration."""
        for name, value in self._templates.items():
            setattr(self, name, value)
        try:
            if jinja_env is None:
                jinja_env = self.get_template_env(dag=read(context, "dag"))
            super().render_template_fields(context, jinja_env)
        except Exception as exc:
            logger.warning("alerts_lib: AlertNotifier templates failed to render (%s); sent as written", exc)
            for name, value in self._templates.items():
                setattr(self, name, value)

    # -- sending ---------------------------------------------------------------------------------------------

    def __call__(self, *args: Any) -> None:
        """What ``BaseNotifier.__call__`` does (merge, render, notify), where no step raises: a notifier
        must not break the callbacks after it, nor the task (Airflow 3's re-raises, 2.10's swallows)."""
        context: Any = args[0] if len(args) == 1 else {"dag": args[0] if args else None}
        try:
            self._update_context(context)
        except Exception as exc:
            logger.warning("alerts_lib: AlertNotifier got an unusual context (%s)", type(exc).__name__)
        self.render_template_fields(context)
        try:
            self.notify(context)
        except Exception as exc:
            logger.error("alerts_lib: AlertNotifier failed (%s)", type(exc).__name__)

    def notify(self, context: Any) -> None:
        event = self.event or event_of(context)
        alert = context_alert(
            context,
            event,
            mention=_opt(self.mention),
            extra_fields=self.extra_fields if callable(self.extra_fields) else _fields(self.extra_fields),
            env=self.env,
        )
        text = _opt(self.text)
        if text:
            alert = dataclasses.replace(alert, title=text)
        target = Target(destination=_opt(self.destination), conn_id=_opt(self.conn_id), webhook_url=self._webhook_url)
        run_callback(context, event, target, self.timeout, alert=alert)


def event_of(context: Any) -> Event:
    """The event a context reports: a DAG's ``reason`` ("success" or a failure), a task's state."""
    ctx = mapping(context)
    if is_dag_level(ctx):
        return "success" if to_text(read(ctx, "reason")) == "success" else "failed"
    state = state_text(read(read(ctx, "ti") or read(ctx, "task_instance"), "state"))
    if state == "up_for_retry":
        return "retry"
    if state == "success":
        return "success"
    return "failed"


def _opt(value: Any) -> str | None:
    text = to_text(value).strip() if value is not None else ""
    return text or None


def _fields(value: Any) -> Mapping[str, object] | None:
    return value if isinstance(value, Mapping) else None
