"""Fixtures of the notification tests: a real RQ worker in the test process."""

from collections.abc import Callable, Iterator

import pytest
from rq import SimpleWorker

from server.jobs import QUEUES, queue, set_job_app


class CountingWorker(SimpleWorker):
    """A SimpleWorker that counts the jobs it executes (retries included)."""

    executed = 0

    def execute_job(self, job, queue):
        self.executed += 1
        return super().execute_job(job, queue)


@pytest.fixture
def run_worker(app) -> Iterator[Callable[[], int]]:
    """Run an RQ SimpleWorker in burst mode over every queue (real Redis); returns the jobs it ran."""
    connection = app.extensions.get("linli_redis")
    if connection is None:
        pytest.skip("needs Redis")
    set_job_app(app)
    app.config["JOB_RETRY_INTERVALS"] = (0, 0, 0)

    def work() -> int:
        with app.app_context():
            queues = [queue(name, connection) for name in QUEUES]
        worker = CountingWorker(queues, connection=connection)
        worker.work(burst=True)
        return worker.executed

    yield work
    app.config.pop("JOB_RETRY_INTERVALS", None)
