"""What the command line says instead of a traceback.

Errors of the environment — a read-only or full disk, a file where a folder should be, a package that is not
installed, a worker process that died — are the user's to fix, so every command turns them into one line and
exit status 2. Any other exception is a bug in the project and keeps its traceback.
"""

from __future__ import annotations

import errno
from concurrent.futures.process import BrokenProcessPool

import click
from typer.core import TyperGroup

from ..needs import missing_module

ENVIRONMENT = {errno.ENOENT, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR,
               errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP, errno.EMFILE}


def one_line(exc: BaseException) -> str | None:
    """The one line an environment error deserves, or None for a bug (which keeps its traceback)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name and not exc.name.startswith("sdfnets"):
        return missing_module(exc.name)
    if isinstance(exc, BrokenProcessPool):
        return ("a worker process died without a Python error (a crash in a native library: with rendering, "
                "usually no working EGL/OpenGL; see the README's set-up); run with --workers 1 to see it, "
                "or build with --no-renders")
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT:
        where = f": {exc.filename}" if exc.filename else ""
        hint = " (outputs go where SDFNETS_DATA_DIR, SDFNETS_RUNS_DIR, SDFNETS_FIGURES_DIR, SDFNETS_BUILD_DIR say)"
        return f"{exc.strerror or exc}{where}{hint}"
    return None


class OneLineErrors(TyperGroup):
    """The command group of ``sdfnets``: environment errors from any command end in one line and exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = one_line(exc)
            if message is None:
                raise
            click.secho(f"error: {message}", fg="red", err=True)
            ctx.exit(2)
