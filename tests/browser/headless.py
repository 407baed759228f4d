"""A headless Chromium driven from its command line, and readers of what it produces.

No WebDriver: each call starts one ``chromium --headless`` process on a ``file://`` URL with a
fresh profile directory (``--screenshot``, ``--dump-dom`` or ``--print-to-pdf``), under a
timeout; on timeout the whole process group is killed. With ``offline=True`` every host name
resolves to nothing (``--host-resolver-rules``) and the network log (``--log-net-log``) is kept,
so :func:`page_requests` can list what the page itself tried to fetch (Chromium's own background
requests carry no ``file://`` network isolation key and are not counted).

Readers: :func:`png_info` (the PNG signature, chunk CRCs and IHDR, by hand with :mod:`zlib`),
:func:`pixel_spread` (the screenshot's grey-level standard deviation and the share of pixels that
differ from the most common colour, with Pillow) and :func:`parse_dom` (a small element tree from
the serialised DOM, with :mod:`html.parser`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

__all__ = [
    "BROWSER_TIMEOUT_SECONDS",
    "HEADLESS_FLAGS",
    "WINDOW_SIZE",
    "BrowserError",
    "Chromium",
    "Element",
    "PngInfo",
    "find_chromium",
    "page_requests",
    "parse_dom",
    "pixel_spread",
    "png_info",
]

#: Wall-clock limit of one browser run; the process group is killed past it.
BROWSER_TIMEOUT_SECONDS = 60.0
#: Width and height of the window that screenshots are taken in.
WINDOW_SIZE = (1280, 1800)
#: The flags that run Chromium headless as root on this kind of machine (no sandbox without user
#: namespaces, no GPU, no background traffic, no first-run UI).
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Every host name fails to resolve: a page that needs the network cannot get it.
OFFLINE_RULES = "--host-resolver-rules=MAP * ~NOTFOUND"
#: Where the Debian package puts the browser; ``REGAUDIT_CHROMIUM`` overrides it.
DEFAULT_CHROMIUM = "/usr/bin/chromium"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Elements that never have children (the DOM dump writes no end tag for them).
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)


class BrowserError(RuntimeError):
    """The browser did not run to completion (timeout, crash, no output)."""


def find_chromium() -> str | None:
    """The browser executable: ``$REGAUDIT_CHROMIUM``, else /usr/bin/chromium, else a
    ``chromium`` on PATH; None when there is none."""
    configured = os.environ.get("REGAUDIT_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(DEFAULT_CHROMIUM, os.X_OK):
        return DEFAULT_CHROMIUM
    return shutil.which("chromium")


@dataclass(frozen=True)
class Chromium:
    """One Chromium executable; ``scratch`` holds the fresh profile directories; each run is
    killed (with its process group) after ``timeout`` seconds."""

    executable: str
    scratch: Path
    timeout: float = BROWSER_TIMEOUT_SECONDS

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[bytes]:
        """Run the browser with ``args`` in its own process group, killing the group on
        timeout."""
        profile = tempfile.mkdtemp(prefix="profile-", dir=self.scratch)
        command = [self.executable, *HEADLESS_FLAGS, f"--user-data-dir={profile}", *args]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this run started, nothing else
            process.wait()
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
            raise BrowserError(
                f"chromium did not finish within {self.timeout:g} s: {args}"
            ) from None
        if process.returncode != 0:
            tail = stderr.decode(errors="replace")[-2000:]
            raise BrowserError(f"chromium exited {process.returncode}: {args}\n{tail}")
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def _page_args(self, page: Path, *, offline: bool, netlog: Path | None) -> list[str]:
        args = [OFFLINE_RULES] if offline else []
        if netlog is not None:
            args += [f"--log-net-log={netlog}", "--net-log-capture-mode=Default"]
        return [*args, page.resolve().as_uri()]

    def version(self) -> str:
        """``chromium --version`` (also proves that the executable starts)."""
        return self._run(["--version"]).stdout.decode().strip()

    def screenshot(
        self, page: Path, out: Path, *, offline: bool = False, netlog: Path | None = None
    ) -> Path:
        """A PNG of ``page`` rendered in a :data:`WINDOW_SIZE` window, written to ``out``."""
        width, height = WINDOW_SIZE
        self._run(
            [
                f"--screenshot={out}",
                f"--window-size={width},{height}",
                "--hide-scrollbars",
                *self._page_args(page, offline=offline, netlog=netlog),
            ]
        )
        if not out.is_file():
            raise BrowserError(f"chromium wrote no screenshot for {page}")
        return out

    def dump_dom(self, page: Path, *, offline: bool = False, netlog: Path | None = None) -> str:
        """The serialised DOM of ``page`` after loading and rendering it."""
        result = self._run(["--dump-dom", *self._page_args(page, offline=offline, netlog=netlog)])
        dom = result.stdout.decode()
        if "<html" not in dom:
            raise BrowserError(f"chromium dumped no DOM for {page}")
        return dom

    def print_pdf(self, page: Path, out: Path) -> Path:
        """``page`` printed to a PDF at ``out`` (print styles apply; no header or footer)."""
        self._run([f"--print-to-pdf={out}", "--no-pdf-header-footer", page.resolve().as_uri()])
        if not out.is_file():
            raise BrowserError(f"chromium wrote no PDF for {page}")
        return out


# --- PNG ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PngInfo:
    """The IHDR fields of a PNG and its chunk types in order."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    chunks: tuple[str, ...]


def png_info(data: bytes) -> PngInfo:
    """Parse a PNG's chunk structure; raise ValueError on a bad signature, a truncated chunk,
    a CRC mismatch or a missing IHDR/IDAT/IEND.

    Steps: 1. the 8-byte signature; 2. each chunk's length, type, data and CRC-32 (over type and
    data); 3. IHDR first, at least one IDAT, IEND last; 4. the IHDR fields.
    """
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG: bad signature")
    offset = len(_PNG_SIGNATURE)
    chunks: list[tuple[str, bytes]] = []
    while offset < len(data):
        if offset + 12 > len(data):
            raise ValueError("truncated PNG chunk header")
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if len(body) != length or offset + 12 + length > len(data):
            raise ValueError(f"truncated PNG chunk {kind!r}")
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"PNG chunk {kind!r}: CRC mismatch")
        chunks.append((kind.decode("latin-1"), body))
        offset += 12 + length
    kinds = tuple(kind for kind, _ in chunks)
    if not kinds or kinds[0] != "IHDR" or kinds[-1] != "IEND" or "IDAT" not in kinds:
        raise ValueError(f"PNG chunks out of order: {kinds[:3]}...{kinds[-2:]}")
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", chunks[0][1][:10])
    return PngInfo(width, height, bit_depth, colour_type, kinds)


def pixel_spread(path: Path) -> tuple[float, float]:
    """The grey-level standard deviation of the image at ``path`` (0-255) and the share of its
    pixels that differ from its most common colour (0 for a blank page)."""
    from PIL import Image, ImageStat  # test dependency (requirements-dev.txt)

    with Image.open(path) as image:
        rgb = image.convert("RGB")
        stddev = float(ImageStat.Stat(rgb.convert("L")).stddev[0])
        colours = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
        pixels = rgb.width * rgb.height
    most = max((count for count, _ in colours), default=pixels)
    return stddev, (pixels - most) / pixels


# --- DOM ----------------------------------------------------------------------------------------


@dataclass(eq=False)
class Element:
    """An element of the dumped DOM: tag, attributes, children and its own text pieces
    (compared by identity)."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None = field(default=None, repr=False)
    children: list[Element] = field(default_factory=list, repr=False)
    texts: list[str] = field(default_factory=list, repr=False)

    def iter(self) -> Iterator[Element]:
        """This element and every descendant, in document order."""
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Descendants (and self) with ``tag`` (any if None) and these exact attribute values
        (``class_`` matches one class token)."""
        found = []
        for element in self.iter():
            if tag is not None and element.tag != tag:
                continue
            if all(element.has(name, value) for name, value in attrs.items()):
                found.append(element)
        return found

    def has(self, name: str, value: str) -> bool:
        if name == "class_":
            return value in self.attrs.get("class", "").split()
        return self.attrs.get(name) == value

    def text(self) -> str:
        """The text of this element and its descendants, whitespace collapsed."""
        return " ".join(" ".join(piece for e in self.iter() for piece in e.texts).split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(element)

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.texts.append(data)


def parse_dom(dom: str) -> Element:
    """The element tree of a serialised DOM (Chromium's ``--dump-dom`` output)."""
    builder = _TreeBuilder()
    builder.feed(dom)
    builder.close()
    return builder.root


# --- network log --------------------------------------------------------------------------------


def page_requests(netlog: Path) -> list[str]:
    """The URLs that pages loaded from ``file://`` asked the network stack for, from a
    ``--log-net-log`` file: URL_REQUEST_START_JOB events whose network isolation key is the
    file:// site (the browser's own background requests carry another key or none)."""
    log = json.loads(netlog.read_text())
    event_type = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log.get("events", []):
        params = event.get("params") or {}
        if event.get("type") != event_type or "url" not in params:
            continue
        if str(params.get("network_isolation_key", "")).startswith("file://"):
            urls.append(str(params["url"]))
    return urls
