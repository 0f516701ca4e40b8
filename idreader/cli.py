"""``idreader``: the command line (scan, template, serve).

The one place in idreader that prints, configures logging and decides exit codes:
0 every page has a result (flagged ones included); 1 some input or page could not be
read (every other result is still written); 2 usage error (bad flag or value, or a
class list that cannot be read: nothing was scanned).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .config import ReaderConfig
from .errors import IDReaderError, InputError
from .results import ScanResult

#: Exit status when the command cannot run as given (argparse uses it too).
USAGE_ERROR = 2
_OUT_SUFFIXES = (".csv", ".json")
# scan flag -> ReaderConfig field; a flag left out keeps the ReaderConfig default.
_CONFIG_FLAGS = {
    "id_length": "id_length",
    "workers": "workers",
    "dpi": "dpi",
    "threshold": "confidence_threshold",
    "debug_dir": "debug_dir",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``idreader`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Examples
    --------
    >>> main(["scan", "exams.pdf", "--out", "ids.csv"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return int(exc.code or 0)
    with _stderr_logging():
        try:
            return args.run(args)
        except SystemExit as exc:  # a usage error found after parsing (see _usage_error)
            return int(exc.code or 0)
        except IDReaderError as exc:  # ConfigError carries exit code 2, the others 1
            print(f"idreader: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except OSError as exc:  # writing --out, --report or a template failed
            print(f"idreader: error: {exc}", file=sys.stderr)
            return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``idreader`` (subcommands scan, template, serve)."""
    defaults = ReaderConfig()  # the help shows the library's defaults, not copies of them
    parser = argparse.ArgumentParser(
        prog="idreader",
        description="Read handwritten student numbers from scanned exam pages.",
    )
    parser.add_argument("--version", action="version", version=f"idreader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = sub.add_parser(
        "scan",
        help="read the IDs of scanned pages",
        description="Read the student ID on every page of PDFs, images or directories.",
        epilog="Exit codes: 0 every page has a result (flagged ones included); 1 some "
        "input or page could not be read (the other results are still written); 2 usage "
        "error or unreadable class list (nothing was scanned).",
    )
    scan.add_argument("inputs", nargs="+", metavar="INPUT", help="PDF, image or directory")
    scan.add_argument("--classlist", type=Path, metavar="CSV", help="match pages to students")
    scan.add_argument(
        "--out", type=Path, metavar="FILE", help="write results to FILE.csv or FILE.json"
    )
    scan.add_argument("--report", type=Path, metavar="FILE.html", help="write a review report")
    scan.add_argument("--id-length", type=int, metavar="N", help="digits per ID (default: any)")
    scan.add_argument(
        "--workers", type=int, metavar="N", help=f"worker processes (default: {defaults.workers})"
    )
    scan.add_argument(
        "--dpi", type=int, metavar="N", help=f"PDF render resolution (default: {defaults.dpi})"
    )
    scan.add_argument(
        "--threshold",
        type=float,
        metavar="P",
        help=f"flag IDs whose confidence is below P (default: {defaults.confidence_threshold})",
    )
    scan.add_argument("--debug-dir", type=Path, metavar="DIR", help="write per-page debug PNGs")
    scan.set_defaults(run=_scan, subparser=scan)

    template = sub.add_parser(
        "template",
        help="write a printable ID box",
        description="Write a PDF with an ID box to put on an exam cover.",
    )
    template.add_argument("--digits", type=int, default=8, metavar="N", help="boxes (default 8)")
    template.add_argument(
        "--out", type=Path, default=Path("id-box.pdf"), metavar="FILE.pdf", help="output PDF"
    )
    template.set_defaults(run=_template, subparser=template)

    serve = sub.add_parser("serve", help="run the HTTP service (needs idreader[serve])")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.set_defaults(run=_serve, subparser=serve)
    return parser


def _scan(args: argparse.Namespace) -> int:
    from .classlist import load_classlist
    from .reader import Reader

    if args.out is not None and args.out.suffix.lower() not in _OUT_SUFFIXES:
        _usage_error(args, f"--out must end in .csv or .json, got {str(args.out)!r}")
    for flag, path in (("--out", args.out), ("--report", args.report)):
        # Checked now, not after a long scan whose results would then be lost.
        if path is not None and not path.parent.is_dir():
            _usage_error(args, f"{flag}: directory {str(path.parent)!r} does not exist")
    options = {
        field: getattr(args, flag)
        for flag, field in _CONFIG_FLAGS.items()
        if getattr(args, flag) is not None
    }
    config = ReaderConfig(keep_images=args.report is not None, **options)
    students = None
    if args.classlist is not None:
        try:
            students = load_classlist(args.classlist)
        except InputError as exc:
            # Nothing is scanned without the class list the user asked for: exit 2, not 1,
            # because 1 promises that the other results were written.
            print(f"idreader: error: class list not used, nothing scanned: {exc}", file=sys.stderr)
            return USAGE_ERROR

    reader = Reader(config)
    with _progress_bar() as progress:
        scan = reader.read(args.inputs, classlist=students, progress=progress)

    if args.out is None:
        sys.stdout.write(format_table(scan))
    else:
        text = scan.to_json() if args.out.suffix.lower() == ".json" else scan.to_csv()
        args.out.write_text(text, encoding="utf-8")
    if args.report is not None:
        from .report import write_html

        write_html(scan, args.report)
    print(_summary_line(scan), file=sys.stderr)
    if not scan.results:
        # e.g. only empty directories: exit 0 would read as "every page was read"
        print("idreader: error: the inputs contain no pages", file=sys.stderr)
        return 1
    return scan.exit_code


def _template(args: argparse.Namespace) -> int:
    from .template import write_template

    # write_template validates the digit count (ConfigError -> exit 2 in main()).
    write_template(args.out, digits=args.digits)
    print(f"idreader: wrote {args.out} ({args.digits} boxes)", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from .server import serve

        serve(args.host, args.port)
    except ImportError as exc:
        if (exc.name or "").startswith("idreader"):
            raise  # a bug in idreader itself, not a missing extra
        print(
            f"idreader: the service needs extra packages ({exc.name} is missing):"
            " pip install 'idreader[serve]'",
            file=sys.stderr,
        )
        return USAGE_ERROR
    return 0


def _usage_error(args: argparse.Namespace, message: str) -> NoReturn:
    """Report a usage error the argparse way: usage line, message, SystemExit(2)."""
    args.subparser.error(message)


def format_table(scan: ScanResult) -> str:
    """The results as an aligned plain-text table, one line per page.

    Examples
    --------
    >>> from idreader.results import PageResult, ScanResult
    >>> print(format_table(ScanResult((PageResult("a.pdf", 1, "123", 0.97, False),))), end="")
    source  page  student_id  confidence  flagged  match  reasons
    a.pdf   1     123         0.970       no
    """
    header = ("source", "page", "student_id", "confidence", "flagged", "match", "reasons")
    rows = [
        (
            r.source,
            str(r.page),
            r.student_id or "-",
            f"{r.confidence:.3f}",
            "YES" if r.flagged else "no",
            r.match.id if r.match else "",
            "; ".join(r.reasons) + (f" ({r.error})" if r.error else ""),
        )
        for r in scan.results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def _summary_line(scan: ScanResult) -> str:
    s = scan.summary
    line = (
        f"idreader: {s['pages']} pages, {s['read']} read, {s['flagged']} flagged,"
        f" {s['errors']} errors in {scan.seconds:.1f} s"
    )
    if "matched" in s:
        line += f"; {s['matched']} matched, {len(s['unmatched_students'])} students without a page"
    return line


@contextlib.contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A tqdm bar on stderr when it is a terminal; no progress output otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=0, unit="page", file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress


@contextlib.contextmanager
def _stderr_logging() -> Iterator[None]:
    """Send idreader's warnings to stderr for the duration of one command."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("idreader: %(levelname)s: %(message)s"))
    package_logger = logging.getLogger("idreader")
    package_logger.addHandler(handler)
    try:
        yield
    finally:
        # Removed again so that in-process callers (tests, notebooks) do not pile them up.
        package_logger.removeHandler(handler)
