"""A view's background jobs: ``wait()`` may meet a job that ``submit`` has made but not yet started (another thread
is starting it: a follow-on job, a click from the page) and must wait for it, not fail."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import cnnviz_widgets as cw
from cnnviz_widgets.widgets import jobs

from .conftest import small_cnn


class SlowStart:
    """A context whose ``run`` waits a moment before starting the thread it is given."""

    def run(self, start):
        time.sleep(0.3)
        return start()


def test_wait_waits_for_a_job_that_is_made_but_not_started_yet(monkeypatch):
    view = cw.ClassVisualizer(cw.Net(small_cnn().eval()), 3, start=False)
    try:
        monkeypatch.setattr(jobs, "contextvars", SimpleNamespace(copy_context=SlowStart))
        ran = threading.Event()
        submitter = threading.Thread(target=lambda: view.submit(lambda job: ran.set()))
        submitter.start()
        time.sleep(0.1)  # submit has made the job and is starting its thread
        view.wait(10)  # the job exists, its thread starts 0.3 s later
        assert ran.is_set() and not view.busy
        submitter.join()
    finally:
        view.close()
