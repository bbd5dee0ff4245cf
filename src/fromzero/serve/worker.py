"""One thread runs the models; a bounded number of requests wait for it.

A model is not safe to call from two threads at once (a GPT's KV cache, torch's thread settings),
and two requests computing side by side are each slower than one after the other. So every
request hands its work to ``Worker``, whose single thread runs one job at a time. At most
``1 + queue`` jobs are held (the one running and those waiting): one more is refused at once with
``Busy`` (the server answers 503), so a flood of requests costs a counter, never memory.

A request that gives up (its timeout, or the client went away) marks its job cancelled: a job
still waiting is skipped, a generation stops at its next token (``Job.stop_if_cancelled``).

Example:
    >>> w = Worker(queue=2)
    >>> job, fut = w.submit(lambda job: 6 * 7)
    >>> fut.result()
    42
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor


class Busy(Exception):
    """The worker holds as many jobs as it may: the request is refused (503), not queued."""


class Cancelled(Exception):
    """The job's request gave up before the job finished."""


class Job:
    """What the model thread knows of a request: whether it still wants an answer."""

    def __init__(self):
        self.cancelled = False

    def stop_if_cancelled(self):
        if self.cancelled:
            raise Cancelled("the request gave up (timeout, or the client disconnected)")


class Worker:
    """A single model thread with room for ``queue`` waiting jobs."""

    def __init__(self, queue: int):
        self.capacity = 1 + queue
        self.pending = 0                      # jobs submitted and not finished (running or waiting)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fromzero-model")

    def submit(self, fn, *args) -> tuple[Job, Future]:
        """Queue ``fn(job, *args)``; raises ``Busy`` when ``capacity`` jobs are held already."""
        with self._lock:
            if self.pending >= self.capacity:
                raise Busy(f"the model is busy: {self.pending} request(s) running or waiting, the most this server "
                           f"holds (1 running + --queue {self.capacity - 1}); try again shortly")
            self.pending += 1
        job = Job()
        try:
            return job, self._pool.submit(self._run, job, fn, args)
        except BaseException:
            self._done()
            raise

    def _run(self, job: Job, fn, args):
        try:
            job.stop_if_cancelled()           # waited past its request's patience: skip the work
            return fn(job, *args)
        finally:
            self._done()

    def _done(self):
        with self._lock:
            self.pending -= 1

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)
