"""Reading an extxyz file while another process appends to it: whole frames only.

A frame is complete when its atom-count line, its comment line and all its atom lines are
present, each ended by a newline; a torn tail (a writer killed mid-frame, or a write still
in progress) is never parsed: the reader stops before it and reads it on a later call, once
it is whole.  Frames are numbered from 0 in file order, so the index of a frame never
changes as the file grows.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ..errors import InputError

EXPECTED = "extxyz frames (an atom count line, a comment line, then one line per atom)"


class FrameFollower:
    """Complete frames appended to ``path`` since the last call of :meth:`new_frames`.

    ``what`` names the input in messages (the CLI passes ``REGIONS``).
    """

    def __init__(self, path, what: str = "REGIONS"):
        self.path, self.what = Path(path), what
        self.offset = 0      # bytes of whole frames read so far
        self.index = 0       # frames read so far (the index of the next frame)

    def _refuse(self, detail: str) -> InputError:
        return InputError(f"{self.what}: got {str(self.path)!r}, {detail} at frame {self.index} "
                          f"(byte {self.offset}); expected {EXPECTED}")

    def new_frames(self) -> list[tuple[int, object]]:
        """(index, Atoms) of every whole frame after the last one read; [] if none is whole."""
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        frames, pos = [], 0
        while True:
            end = self._frame_end(data, pos)
            if end is None:
                break
            frames.append((self.index, self._parse(data[pos:end])))
            self.index += 1
            self.offset += end - pos
            pos = end
        return frames

    def _frame_end(self, data: bytes, pos: int) -> int | None:
        """Byte offset just after the frame starting at ``pos``, None if it is not whole yet."""
        first = data.find(b"\n", pos)
        if first < 0:
            if len(data) - pos > 64 or (data[pos:] and not data[pos:].strip().isdigit()):
                raise self._refuse(f"whose line {data[pos:pos + 40]!r} is not an atom count")
            return None
        head = data[pos:first].strip()
        if not head.isdigit():
            raise self._refuse(f"whose line {head[:40]!r} is not an atom count")
        end = first + 1
        for _ in range(int(head) + 1):  # comment line + atom lines
            nl = data.find(b"\n", end)
            if nl < 0:
                return None
            end = nl + 1
        return end

    def _parse(self, chunk: bytes):
        import ase.io

        try:
            return ase.io.read(io.StringIO(chunk.decode()), format="extxyz")
        except Exception as exc:  # noqa: BLE001 - any parser complaint is the file's fault
            raise self._refuse(f"unreadable ({type(exc).__name__}: {exc})") from exc


def whole_frame_bytes(path) -> int:
    """Bytes of the whole frames at the start of ``path`` (0 if it does not exist)."""
    follower = FrameFollower(path, str(path))
    while follower.new_frames():
        pass
    return follower.offset


def cut_torn_tail(path) -> int:
    """Truncate ``path`` after its last whole frame; returns the size kept."""
    size = whole_frame_bytes(path)
    if os.path.exists(path) and os.path.getsize(path) > size:
        os.truncate(path, size)
    return size
