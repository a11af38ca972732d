"""A TraceWriter in a process of its own, so that turning rows into Arrow files runs on another
core while the simulator goes on (rr likewise compresses its trace on other threads; Python's
GIL makes that a process here).

The recording process forks the writer once, then sends it, in order, what it would have called
on a TraceWriter: rows, steps, checkpoints, tables, the schedule, close. The rows themselves pass
through a ring of shared memory (mapped before the fork): the recorder copies a batch in and
sends where it is; the writer reads it there and says, in the ring's last word, how far it has
finished, and a batch that does not fit in what is free goes through the pipe instead. Ring and
pipe keep the two at most about 18 batches apart. The writer answers only when it fails (the
next call in the recording process raises the error) and when it has closed (with the number of events written). If the recording process is
killed, the writer still writes everything it was sent, closes the files and exits: a SIGKILL
of the recorder loses no event that was handed over. The writer ignores SIGINT and SIGTERM (it
ends when its requests do); a SIGKILL of both processes loses what was still in the ring and
the pipe.
"""

from __future__ import annotations

import atexit
import mmap
import multiprocessing
import os
import signal
import threading
import weakref

from .errors import TraceError
from .trace_writer import TraceWriter

PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged process
RING_BYTES = 8 << 20  # the shared memory rows pass through (a batch is about 0.5 MB); then a u64

# Writers alive in this process. A writer forked later inherits the request pipes of the earlier
# ones and must close them (or an earlier writer would wait for an end of requests that never
# comes); forks of writers are serialised so that no pipe is half set up when another forks.
_live: weakref.WeakSet = weakref.WeakSet()
_forking = threading.Lock()


def available() -> bool:
    """A writer process helps when there is a core to spare and fork to start it cheaply (and
    this process may have children: a daemonic multiprocessing worker may not)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return hasattr(os, "fork") and cores > 1 and not multiprocessing.current_process().daemon


class WriterProcess:
    """The TraceWriter interface (tables, rows, steps, checkpoint, schedule, close, abandon), run by a child
    process."""

    def __init__(self, writer: TraceWriter):
        ctx = multiprocessing.get_context("fork")
        self._where = str(writer.run.path)
        self._closed = False  # pipes closed, nothing more to say or hear
        self._finishing = False  # end of requests sent; only the last reply is to come
        self._written = 0  # events written, as last reported
        # shared with the writer (anonymous and MAP_SHARED: the fork below keeps it shared); the
        # u64 after the ring is the writer's: ring bytes finished with, counted from the start
        self._ring = mmap.mmap(-1, RING_BYTES + 8)
        self._head = 0  # ring bytes handed over, counted from the start
        with _forking:
            requests_in, self._requests = ctx.Pipe(duplex=False)
            self._replies, replies_out = ctx.Pipe(duplex=False)
            inherited = [end for w in [*_live, self] for end in (w._requests, w._replies)]
            # not a daemon: at interpreter exit multiprocessing joins it (after _end_requests
            # below) instead of terminating it halfway through what it was sent
            self._process = ctx.Process(target=_serve, args=(writer, requests_in, replies_out, inherited, self._ring),
                                        name="revtrace-writer", daemon=False)
            self._process.start()
            requests_in.close()
            replies_out.close()
            _live.add(self)
        _widen(self._requests)

    # ------------------------------------------------------------------ the TraceWriter interface

    def tables(self, tables) -> None:
        self._send(("tables", tables))

    def rows(self, first_seq: int, raw, messages, pending=()) -> None:
        """`raw` (bytes or a view, used during the call only) goes into the ring, or the pipe."""
        n = len(raw)
        at = self._place(n)
        if at is None:
            if self._send(("rows", first_seq, messages, list(pending), None)):
                self._send(raw, raw=True)
            return
        self._ring[at:at + n] = raw
        self._send(("rows", first_seq, messages, list(pending), (at, n, self._head)))

    def _place(self, n: int) -> int | None:
        """Where in the ring n bytes go (a batch never wraps: it starts over at 0 instead), or
        None when the writer has not finished with enough of it."""
        head = self._head
        at = head % RING_BYTES
        if at + n > RING_BYTES:
            head += RING_BYTES - at
            at = 0
        if self._closed or head + n - int.from_bytes(self._ring[RING_BYTES:], "little") > RING_BYTES:
            return None
        self._head = head + n
        return at

    def checkpoint(self, seq: int, cycle: int, instructions: int, state: dict) -> None:
        self._send(("checkpoint", seq, cycle, instructions, state))

    def steps(self, entries) -> None:
        self._send(("steps", entries))

    def schedule(self, instructions: int, outcome: str | None) -> None:
        self._send(("schedule", instructions, outcome))

    def close(self) -> int:
        """Wait for the writer to finish; the number of events written. Raises its error, if any."""
        self._send(("close",))
        return self._finish()

    def abandon(self) -> int:
        """After an error here (or an interrupted close): let the writer write what it was sent
        and stop; the number of events readable."""
        try:
            return self._finish()
        except TraceError:
            return self._written

    # ------------------------------------------------------------------ plumbing

    def _send(self, message, raw: bool = False) -> bool:
        """Send a request; False if requests have ended (after close or abandon began: whatever
        comes later was handed over before, or is not wanted)."""
        if self._finishing or self._closed:
            return False
        if self._replies.poll():  # the writer failed: raise its error now
            self._reply()
        try:
            if raw:
                self._requests.send_bytes(message)
            else:
                self._requests.send(message)
        except OSError:
            self._died()
        return True

    def _reply(self):
        try:
            while not self._replies.poll(0.5):
                if not self._process.is_alive() and not self._replies.poll():
                    self._died()
            reply = self._replies.recv()
        except (EOFError, OSError):
            self._died()
        if reply[0] == "error":
            self._written = reply[3]
            self._stop()
            raise TraceError(reply[1], reply[2])
        self._written = reply[1]
        return reply

    def _finish(self) -> int:
        """End of requests (after "close", or cut off: the writer then closes its files, as it
        would if this process died), and its last word."""
        if self._closed:
            return self._written
        self._end_requests()
        self._reply()
        self._stop(wait=False)  # the files are closed; the process is only exiting now
        return self._written

    def _end_requests(self) -> None:
        self._finishing = True
        self._requests.close()

    def _died(self):
        """The pipe broke. The writer may have said why before it went (a write error while this
        process was blocked on a full pipe): that is the error to report."""
        self._end_requests()
        self._process.join(timeout=60)
        last = None
        if not self._closed:
            try:
                last = self._replies.recv() if self._replies.poll() else None
            except (EOFError, OSError):
                pass
        if last is not None and last[0] == "error":
            self._written = last[3]
            self._stop()
            raise TraceError(last[1], last[2])
        self._stop()
        raise TraceError(f"the trace writer process stopped unexpectedly (exit code {self._process.exitcode})",
                         self._where)

    def _stop(self, wait: bool = True) -> None:
        """Close the pipes; with `wait`, also make sure the process is gone (multiprocessing reaps
        one left exiting on its own)."""
        if self._closed:
            return
        self._closed = True
        self._finishing = True
        self._requests.close()
        self._replies.close()
        self._ring.close()  # (the writer keeps its own mapping until it exits)
        _live.discard(self)
        if wait:
            self._process.join(timeout=60)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()


@atexit.register
def _end_requests_at_exit() -> None:
    """Runs before multiprocessing joins its children at exit (atexit is last in, first out): a
    writer still alive (its recording was interrupted twice) gets the end of its requests, writes
    what it was sent, and exits."""
    for writer in list(_live):
        writer._end_requests()


def _widen(connection) -> None:
    """A pipe that holds a whole batch: the recording process then hands it over in one write
    instead of waiting on the writer to drain 64 KiB at a time (Linux only; best effort)."""
    import fcntl

    try:
        fcntl.fcntl(connection.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:
        pass


def _serve(writer: TraceWriter, requests, replies, inherited, ring) -> None:
    """The writer process: apply each request to `writer` until "close" or the end of the
    requests (the recording process failed or died; a request cut short is dropped), then close
    the files and say how many events were written."""
    # the recorder decides about Ctrl-C and termination; this process ends with its requests
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for end in inherited:  # the recording processes' ends of this and earlier writers' pipes
        end.close()
    try:
        while True:
            try:
                message = requests.recv()
                raw = requests.recv_bytes() if message[0] == "rows" and message[4] is None else None
            except (EOFError, OSError):
                break
            op = message[0]
            if op == "close":
                break
            if op == "rows":
                if raw is None:
                    at, n, end = message[4]
                    with memoryview(ring)[at:at + n] as raw:
                        writer.rows(message[1], raw, message[2], message[3])
                    ring[RING_BYTES:] = end.to_bytes(8, "little")  # finished with it
                else:
                    writer.rows(message[1], raw, message[2], message[3])
            elif op == "checkpoint":
                writer.checkpoint(*message[1:])
            elif op == "tables":
                writer.tables(message[1])
            elif op == "steps":
                writer.steps(message[1])
            elif op == "schedule":
                writer.schedule(*message[1:])
        reply = ("closed", writer.close())
    except TraceError as e:
        reply = ("error", e.message, e.location, writer.abandon())
    except BaseException as e:  # a bug: say what it was rather than dying silently
        reply = ("error", f"the trace writer failed: {type(e).__name__}: {e}", str(writer.run.path),
                 writer.abandon())
    try:
        replies.send(reply)
    except OSError:  # the recording process is gone
        pass
    # Leave at once: the files are closed, and the exit path of a forked child (flushing stdout
    # and the like) could wait on a lock some thread of the parent (a progress bar) held at fork.
    os._exit(0)
