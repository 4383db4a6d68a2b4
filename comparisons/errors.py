"""How the ``mixcompare`` commands fail: exit codes, the checks before work, the work phase.

Exit codes: 0 done; 1 the run failed (an unexpected error while working: the
one line says where its traceback was written, and ``mixcompare --debug ...``
prints it); 2 a usage or data error, found before any work; 130 interrupted
(Ctrl-C or SIGTERM: worker processes are stopped and nothing half-written is
left). A command checks its inputs and its output folder (:func:`check_out`)
first, then works inside :func:`working`; :func:`guard` turns every failure
into one line on stderr and the exit code.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path

import typer

__all__ = ["STATE", "UsageError", "WorkError", "check_out", "fail", "guard", "working"]


class UsageError(ValueError):
    """A bad option value given on the command line."""


class WorkError(Exception):
    """An unexpected error during the work phase (after every input was checked)."""

    def __init__(self, err: BaseException, out: Path | None):
        super().__init__(str(err))
        self.err, self.out = err, out


STATE = {"debug": False}


def fail(msg: str, code: int = 2):
    """Print ``mixcompare: error: msg`` on stderr and exit with ``code``."""
    typer.echo(f"mixcompare: error: {msg}", err=True)
    raise typer.Exit(code)


def check_out(out: Path, flag: str = "--out") -> Path:
    """Create the output folder and check that it can be written, before any work."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out} exists and is not a folder; choose another path")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".mixcompare-check-"):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {out} cannot be written ({err.strerror or err}); choose a "
                         "folder you can write to") from None
    return out


@contextlib.contextmanager
def working(out: Path | None = None, quiet: bool = False):
    """Run the work phase: an unexpected error is a failed run (exit 1), not a usage error.

    SIGTERM is turned into ``KeyboardInterrupt`` (exit 130), and a warning that
    reaches the command is shown as one line, ``mixcompare: warning: ...`` (not
    at all under ``--quiet``: the report keeps mixcompare's own warnings).
    """
    import signal

    def _term(signum, frame):
        raise KeyboardInterrupt

    def _show(message, category, filename, lineno, file=None, line=None):
        if not quiet:
            typer.echo(f"mixcompare: warning: {category.__name__}: {message}", err=True)

    old = signal.signal(signal.SIGTERM, _term)
    shown = warnings.showwarning
    warnings.showwarning = _show  # one line per warning (e.g. NUTS's divergences), no source
    try:
        yield
    except (KeyboardInterrupt, typer.Exit):
        raise
    except Exception as err:  # noqa: BLE001 - reported as an internal error with its traceback
        raise WorkError(err, out) from err
    finally:
        signal.signal(signal.SIGTERM, old)
        warnings.showwarning = shown


def stop_children() -> None:
    """End any worker process this run started (PyMC's chains, the bootstrap's pool)."""
    import multiprocessing

    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(timeout=5)
        if child.is_alive():
            child.kill()


def internal_error(err: WorkError):
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(err.err))
    if STATE["debug"]:
        typer.echo(text, err=True)
    where = (err.out if err.out is not None and err.out.is_dir()
             else Path(tempfile.gettempdir()))
    path = where / "mixcompare-error.txt"
    try:
        path.write_text(text)
        said = f"traceback in {path}"
    except OSError:
        said = "rerun with --debug for the traceback"
    fail(f"the run failed with an unexpected {type(err.err).__name__}: {err.err} -- "
          f"probably a bug in mixcompare; {said} (mixcompare --debug ... prints it)", code=1)


def guard(func):
    """Turn expected errors into one line and a non-zero exit."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        # (datasets.DataError is a ValueError: not imported here, so that the command's
        # first line is on screen before numpy and scipy are loaded)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except WorkError as err:
            stop_children()
            internal_error(err)
        except (UsageError, ValueError, TypeError) as err:
            fail(str(err))
        except KeyboardInterrupt as err:
            stop_children()
            why = f" ({err})" if str(err) else ""  # e.g. how many NUTS draws were made
            fail(f"interrupted{why}; nothing was written for this run", code=130)

    return wrapper
