"""A TraceWriter in a process of its own, so that turning rows into Arrow files runs on another
core while the simulator goes on (rr likewise compresses its trace on other threads; Python's
GIL makes that a process here).

The recording process forks the writer once, then sends it, in order, what it would have called
on a TraceWriter: rows, checkpoints, tables, close. The pipe keeps the two at most a batch or so
apart. The writer answers only when it fails (the next call in the recording process raises the
error) and when it has closed (with the number of events written). If the recording process is
killed, the writer still writes everything it was sent, closes the files and exits: a SIGKILL
loses no event that was handed over.
"""

from __future__ import annotations

import multiprocessing
import os
import signal

from .errors import TraceError
from .trace_writer import TraceWriter


PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged process


def available() -> bool:
    """A writer process helps when there is a core to spare and fork to start it cheaply (and
    this process may have children: a daemonic multiprocessing worker may not)."""
    return (hasattr(os, "fork") and (os.cpu_count() or 1) > 1
            and not multiprocessing.current_process().daemon)


class WriterProcess:
    """The TraceWriter interface (tables, rows, checkpoint, close, abandon), run by a child process."""

    def __init__(self, writer: TraceWriter):
        ctx = multiprocessing.get_context("fork")
        self._requests_in, self._requests = ctx.Pipe(duplex=False)
        self._replies, self._replies_out = ctx.Pipe(duplex=False)
        self._where = str(writer.run.path)
        self._process = ctx.Process(target=_serve, args=(writer, self._requests_in, self._replies_out,
                                                         (self._requests, self._replies)),
                                    name="revtrace-writer", daemon=True)
        self._process.start()
        self._requests_in.close()
        self._replies_out.close()
        _widen(self._requests)
        self._closed = False
        self._written = 0  # events written, as last reported

    # ------------------------------------------------------------------ the TraceWriter interface

    def tables(self, tables) -> None:
        self._send(("tables", tables))

    def rows(self, first_seq: int, raw: bytes, messages) -> None:
        self._send(("rows", first_seq, messages))
        self._send_bytes(raw)

    def checkpoint(self, seq: int, cycle: int, instructions: int, snapshot: bytes) -> None:
        self._send(("checkpoint", seq, cycle, instructions, snapshot))

    def close(self) -> int:
        """Wait for the writer to finish; the number of events written. Raises its error, if any."""
        self._send(("close",))
        return self._finish()

    def abandon(self) -> int:
        """After an error here: let the writer write what it has and stop; events readable."""
        try:
            return self._finish()
        except TraceError:
            return self._written

    # ------------------------------------------------------------------ plumbing

    def _send(self, message) -> None:
        self._check()
        try:
            self._requests.send(message)
        except OSError:
            self._died()

    def _send_bytes(self, raw: bytes) -> None:
        try:
            self._requests.send_bytes(raw)
        except OSError:
            self._died()

    def _check(self) -> None:
        """Raise the writer's error as soon as it has reported one."""
        if self._replies.poll():
            self._reply()

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
        self._requests.close()
        reply = self._reply()
        self._stop(wait=False)  # the files are closed; the process is only exiting now
        return reply[1]

    def _died(self):
        self._stop()
        raise TraceError(f"the trace writer process stopped unexpectedly (exit code {self._process.exitcode})",
                         self._where)

    def _stop(self, wait: bool = True) -> None:
        """Close the pipes; with `wait`, also make sure the process is gone (multiprocessing reaps
        one left exiting on its own)."""
        if self._closed:
            return
        self._closed = True
        if not self._requests.closed:
            self._requests.close()
        self._replies.close()
        if wait:
            self._process.join(timeout=60)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()


def _widen(connection) -> None:
    """A pipe that holds a whole batch: the recording process then hands it over in one write
    instead of waiting on the writer to drain 64 KiB at a time (Linux only; best effort)."""
    import fcntl

    try:
        fcntl.fcntl(connection.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:
        pass


def _serve(writer: TraceWriter, requests, replies, parent_ends) -> None:
    """The writer process: apply each request to `writer` until "close" or the end of the
    requests (the recording process failed or died; a request cut short is dropped), then close
    the files and say how many events were written."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the recording process's to handle
    for end in parent_ends:  # inherited by fork; holding them would hide the parent's end
        end.close()
    try:
        while True:
            try:
                message = requests.recv()
                raw = requests.recv_bytes() if message[0] == "rows" else None
            except (EOFError, OSError):
                break
            op = message[0]
            if op == "close":
                break
            if op == "rows":
                writer.rows(message[1], raw, message[2])
            elif op == "checkpoint":
                writer.checkpoint(*message[1:])
            elif op == "tables":
                writer.tables(message[1])
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
