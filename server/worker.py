"""`flask --app wsgi worker` and `flask --app wsgi jobs status | retry-failed | relay`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from rq import SimpleWorker, Worker

from server.db import db
from server.jobs import QUEUES, queue, schedule_periodic, set_job_app

jobs_group = click.Group("jobs", help="Background jobs: status, retries.")


def _redis() -> object:
    connection = current_app.extensions.get("linli_redis")
    if connection is None:
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, there is no queue to inspect")
    return connection


@click.command("worker")
@click.option("--queues", default=",".join(QUEUES), help="Comma-separated queues, in priority order")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty")
@click.option("--name", default=None)
@click.option(
    "--fork", is_flag=True, help="Fork a work-horse per job (RQ's default) instead of running jobs here"
)
@with_appcontext
def worker(queues: str, burst: bool, name: str | None, fork: bool) -> None:
    """Run an RQ worker with the built-in scheduler on the named queues, inside this app.

    Jobs run in the worker process by default (RQ's SimpleWorker): they reuse its database pool and
    its keep-alive connection to WeChat, where a fork per job would open both anew for every message.
    """
    connection = _redis()
    set_job_app(current_app._get_current_object())  # type: ignore[attr-defined]
    db.session.remove()
    scheduled = schedule_periodic(connection)  # type: ignore[arg-type]
    click.echo(f"worker on {queues}; periodic jobs scheduled: {scheduled}")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    worker_class = Worker if fork else SimpleWorker
    rq_worker = worker_class([queue(n, connection) for n in names], connection=connection, name=name)  # type: ignore[arg-type]
    rq_worker.work(with_scheduler=True, burst=burst)


@jobs_group.command("status")
@with_appcontext
def status() -> None:
    """Queue lengths, scheduled and failed jobs, and the outbox backlog."""
    from server.notifications.services import outbox_backlog, queue_statuses

    connection = _redis()
    for q in queue_statuses(connection):  # type: ignore[arg-type]
        sizes = f"queued {q.queued:>6}  scheduled {q.scheduled:>4}  failed {q.failed:>4}"
        click.echo(f"queue {q.name:<8} {sizes}")
    backlog = outbox_backlog()
    oldest = f"{backlog.oldest_seconds:.0f} s" if backlog.oldest_seconds is not None else "-"
    click.echo(f"outbox   waiting {backlog.count:>6}  oldest {oldest}")
    db.session.rollback()


@jobs_group.command("retry-failed")
@with_appcontext
def retry_failed() -> None:
    """Put every failed job back on its queue."""
    from server.notifications.services import retry_failed_jobs

    click.echo(f"requeued {retry_failed_jobs(_redis())} failed jobs")  # type: ignore[arg-type]


@jobs_group.command("relay")
@with_appcontext
def relay() -> None:
    """Hand outbox rows left behind to the queue now (the worker also does it every 30 s)."""
    from server.notifications.jobs import relay_outbox

    click.echo(f"enqueued {relay_outbox()} outbox rows")


def init_app(app: Flask) -> None:
    """Register ``worker`` and ``jobs`` on ``flask --app wsgi``."""
    app.cli.add_command(worker)
    app.cli.add_command(jobs_group)
