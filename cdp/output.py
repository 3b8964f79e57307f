"""Files the CLI is told to write (-o): checked before any work, then written whole or not at all
(each command writes next to the file and moves it into place), readable by their owner only
(they hold personal data), and a failure is one line."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cdp.errors import CdpError, InvalidInput


def cannot_write(path: Path, error: OSError) -> CdpError:
    return CdpError(f"cannot write {path}: {error.strerror or error}")


def check_output(output: Path) -> None:
    """InvalidInput unless `output` can become a regular file: a directory, a device or pipe
    (/dev/full), or a link (moving a file into place replaces the link itself, /dev/stdout
    included) is refused, as is a folder that does not exist."""
    folder = output.parent
    try:
        if output.is_dir():
            raise InvalidInput(f"{output} is a directory; give a file name with -o")
        if output.is_symlink() or (output.exists() and not output.is_file()):
            raise InvalidInput(f"{output} is not a regular file; give a file name with -o")
        if not folder.is_dir():
            raise InvalidInput(f"the folder {folder} does not exist")
    except OSError as error:  # a name too long, a folder we may not look into
        raise cannot_write(output, error) from None


def private_partial(output: Path) -> tuple[int, Path]:
    """A new, empty file next to `output` (an open descriptor and its path) to write and then
    move into place. Mode 600, as mkstemp makes it, whatever the umask: an export holds personal
    data, which other accounts on the machine must not read."""
    try:
        handle, partial = tempfile.mkstemp(
            prefix=f".{output.name}.", suffix=".part", dir=output.parent
        )
    except OSError as error:  # no permission, a read-only file system
        raise cannot_write(output, error) from None
    return handle, Path(partial)
