"""`wstape record`: mitmdump with the recorder addon, in the foreground, with a live
status line, until Ctrl-C or SIGTERM; with `--live`, `wstape watch` follows the capture beside it
and prints each run's verdict as soon as it is judged."""

from __future__ import annotations

import re
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import click

from wstape.analyzer.api import resolve_profile
from wstape.analyzer.cli.common import (
    EXIT_FAILED,
    InputError,
    given_targets,
    profile_option,
    target_options,
    warn,
)
from wstape.analyzer.cli.watch import LiveOutput, json_lines_file
from wstape.analyzer.live import watch
from wstape.analyzer.profile import Profile, ProfileError
from wstape.analyzer.reports.report import Report
from wstape.recorder.capture import SEGMENT_SUFFIX
from wstape.recorder.launch import (
    ADDON,
    LaunchError,
    RecordConfig,
    RecorderProcess,
    check_upstream,
    parse_listen,
)
from wstape.recorder.private import readable_by_others

# mitmdump's per-connection chatter (and its line for each streamed response); only with --verbose.
CHATTER = re.compile(r"(client|server) (connect|disconnect)|Loading script|Streaming response")


def _status_text(counters: dict[str, int]) -> str:
    mib = counters.get("bytes", 0) / (1024 * 1024)
    text = (
        f"recording: {counters.get('connections', 0)} connections "
        f"({counters.get('open', 0)} open), {counters.get('frames', 0):,} frames, {mib:,.1f} MiB"
    )
    if counters.get("lost"):
        text += f", {counters['lost']:,} NOT RECORDED"
    return text


class StatusLine:
    """A live line on a terminal; on a pipe, a plain line at most every 10 seconds."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = False
        self.lock = threading.Lock()
        self.last_plain: dict[str, int] = {}
        self.ticks = 0

    def update(self, counters: dict[str, int]) -> None:
        with self.lock:
            if self.tty:
                self.stream.write("\r\033[K" + _status_text(counters))
                self.shown = True
            else:
                self.ticks += 1
                if self.ticks % 10 == 1 and counters != self.last_plain:
                    self.stream.write(_status_text(counters) + "\n")
                    self.last_plain = counters
            self.stream.flush()

    def line(self, text: str, stream=None) -> None:
        """A line above the status line, on its stream or on `stream` (stdout, say)."""
        with self.lock:
            if self.shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self.shown = False
            out = stream or self.stream
            out.write(text + "\n")
            out.flush()

    def echo(self, text: str) -> None:
        self.line(text, sys.stdout)


def _print_addon_path(ctx, param, value):
    if value:
        click.echo(ADDON)
        ctx.exit()


def _validate_upstream(ctx, param, value):
    if value is None:
        return None
    try:
        check_upstream(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _validate_listen(ctx, param, value):
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option(
    "--upstream",
    callback=_validate_upstream,
    metavar="URL",
    help="The backend, e.g. http://127.0.0.1:8000 (https:// speaks wss:// to it). "
    "Clients connect to --listen instead. Without it, wstape runs a regular proxy.",
)
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    callback=_validate_listen,
    metavar="HOST:PORT",
    help="Where clients (or, as a regular proxy, their proxy setting) connect.",
)
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Capture folder to write segments into (created if missing).",
)
@click.option(
    "--certs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file with certificate and private key to serve to wss:// clients. "
    "Without it, mitmproxy's own CA signs one (trust CONFDIR/mitmproxy-ca-cert.pem).",
)
@click.option(
    "--confdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="mitmproxy's configuration folder, where its CA is kept (default ~/.mitmproxy).",
)
@click.option(
    "--upstream-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust this CA (PEM) for the backend's certificate, e.g. a self-signed one.",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Do not verify the backend's certificate at all. Prefer --upstream-ca.",
)
@click.option(
    "--no-redact",
    is_flag=True,
    help="Keep secrets in the capture: handshake credentials and the keys, tokens, passwords "
    "and card numbers in message payloads are redacted unless this is given.",
)
@click.option(
    "--redact-field",
    "redact_fields",
    multiple=True,
    metavar="NAME",
    help="Also redact this JSON field's value from payloads, at any depth (repeatable).",
)
@click.option(
    "--redact-pattern",
    "redact_patterns",
    multiple=True,
    metavar="REGEX",
    help="Also redact what this regular expression matches in text payloads (repeatable).",
)
@click.option(
    "--segment-mb",
    default=64,
    show_default=True,
    type=click.IntRange(1, 1 << 16),
    help="Start a new segment file after this many MiB.",
)
@click.option(
    "--flush-ms",
    default=100,
    show_default=True,
    type=click.IntRange(1, 60_000),
    help="Write to disk at least this often; a killed recorder loses at most this.",
)
@click.option(
    "--set",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Pass a mitmproxy option through, e.g. --set hardump=flows.har.",
)
@click.option(
    "--live", is_flag=True,
    help="Print each chat run's verdict as soon as it is judged, as `wstape watch --follow` "
    "does, and the summary at the end; then exit 1 if a run failed.",
)  # fmt: skip
@click.option(
    "--live-json", type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
    help="Write the live verdicts and the summary as JSON lines to FILE (implies --live).",
)  # fmt: skip
@profile_option(", and the targets (for --live)")
@target_options
@click.option("-v", "--verbose", is_flag=True, help="Show mitmdump's connection log too.")
@click.option(
    "--addon-path",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_print_addon_path,
    help="Print the path of the addon file and exit, to load it into a mitmdump of your own: "
    'mitmdump -s "$(wstape record --addon-path)".',
)
def record(
    upstream,
    listen,
    out,
    certs,
    confdir,
    upstream_ca,
    insecure,
    no_redact,
    redact_fields,
    redact_patterns,
    segment_mb,
    flush_ms,
    extra,
    live,
    live_json,
    profile,
    verbose,
) -> None:
    """Record WebSocket traffic and HTTP event streams (SSE, NDJSON) through mitmproxy
    until Ctrl-C or SIGTERM.

    In front of a backend (reverse proxy), clients connect to --listen and
    wstape forwards to --upstream; ws:// and wss:// work on the same port.
    On Ctrl-C or SIGTERM the capture is flushed and closed, and the exit code is 0,
    or 1 when part of the traffic could not be written (the last line says so).

    With --live, each chat run's verdict is printed as soon as the run is judged
    (see `wstape watch`), and the summary once the capture is closed; the exit
    code is then 1 if a run failed.

    \b
    Examples:
      wstape record --upstream http://127.0.0.1:8000 --listen 127.0.0.1:8080 --out captures/today
      wstape record --upstream https://api.internal:443 --upstream-ca backend-ca.pem \\
                    --certs proxy.pem --listen 0.0.0.0:8443 --out captures/prod
      wstape record --listen 127.0.0.1:8080 --out captures/browser   # regular proxy
      wstape record --upstream http://127.0.0.1:8000 --out captures/today --live
      mitmdump -s "$(wstape record --addon-path)" --set wstape_dir=captures/today
    """
    host, port = listen
    for pattern in redact_patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise click.BadParameter(f"{pattern!r}: {exc}", param_hint="--redact-pattern") from None
    if out.is_dir() and readable_by_others(out):
        warn(f"{out} is readable by other users; the capture files in it are not (0600)")
    cfg = RecordConfig(
        out=out.resolve(),
        upstream=upstream,
        listen_host=host,
        listen_port=port,
        certs=certs,
        confdir=confdir,
        upstream_ca=upstream_ca,
        insecure=insecure,
        redact=not no_redact,
        redact_fields=redact_fields,
        redact_patterns=redact_patterns,
        segment_mb=segment_mb,
        flush_ms=flush_ms,
        extra=tuple(extra),
    )
    setup = LiveSetup.of(profile, live_json, given_targets()) if live or live_json else None
    with json_lines_file(setup.json_path if setup else None) as json_lines:
        failed = record_until_stopped(cfg, verbose, setup, json_lines)
    if failed:
        click.get_current_context().exit(EXIT_FAILED)


@dataclass(frozen=True)
class LiveSetup:
    """How `record --live` judges: the profile (None: sniffed from the first frames, as
    analyze does) and the targets given, and where JSON lines go."""

    profile: Profile | None
    targets: dict
    json_path: str | None = None

    @classmethod
    def of(cls, profile: str | None, json_path: str | None, targets: dict) -> LiveSetup:
        try:
            resolved = None if profile is None else resolve_profile(profile, **targets)
        except ProfileError as exc:
            raise InputError(str(exc)) from None
        return cls(resolved, targets, json_path)


class _Beside:
    """`wstape watch --follow` on a thread beside the recorder. A capture it cannot read stops
    it with one line; the recording goes on."""

    def __init__(self, out: Path, setup: LiveSetup, live: LiveOutput, status: StatusLine) -> None:
        self.stop = threading.Event()
        self.report: Report | None = None
        self._out, self._setup, self._live, self._status = out, setup, live, status
        # Segments already there are an earlier recording's: only this one is judged.
        self._earlier = list(out.glob(f"*{SEGMENT_SUFFIX}")) if out.is_dir() else []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        def warn(message: str) -> None:
            self._status.line(f"warning: {message}")

        try:
            self.report = watch(self._out, self._setup.profile, self._live.verdict, True,
                                self.stop, warn, self._earlier, **self._setup.targets)  # fmt: skip
        except Exception as exc:  # the recording must go on whatever the live view does
            self._status.line(f"wstape: live verdicts stopped: {exc}")

    def start(self) -> _Beside:
        self._thread.start()
        return self

    def finish(self) -> Report | None:
        """The report, once the capture is closed and read to its end."""
        self.stop.set()
        self._thread.join()
        return self.report


def record_until_stopped(
    cfg: RecordConfig, verbose: bool = False, live: LiveSetup | None = None, json_lines=None
) -> bool:
    """Runs the recorder in the foreground until SIGINT/SIGTERM or until mitmdump ends; with
    `live`, judges the capture as it is written. True when a run judged live failed."""
    status = StatusLine()

    def on_line(line: str) -> None:
        if verbose or not CHATTER.search(line):
            status.line(line)

    recorder = RecorderProcess(cfg, on_line=on_line, on_status=status.update)
    stop_requested = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_requested.set())
    output = LiveOutput(status.echo, json_lines)
    beside = _Beside(cfg.out, live, output, status) if live else None
    try:
        recorder.start()
    except LaunchError as exc:
        raise InputError(f"recorder did not start: {exc} (see the lines above)") from None
    if beside is not None:
        beside.start()
    target = f" → {cfg.upstream}" if cfg.upstream else " (regular proxy)"
    where = f"{cfg.listen_host}:{cfg.listen_port}"
    status.line(f"wstape: listening on {where}{target}, writing {cfg.out}; Ctrl-C stops")
    while not stop_requested.wait(0.2):
        if recorder.proc.poll() is not None:
            break
    code = recorder.stop()
    report = beside.finish() if beside is not None else None
    status.line("wstape: " + _status_text(recorder.last_status).replace("recording: ", "recorded "))
    status.line(f"wstape: capture in {cfg.out}")
    if report is not None:
        output.summary(report)
    if code not in (0, -signal.SIGTERM) and not stop_requested.is_set():
        raise InputError(f"mitmdump exited with code {code}")
    lost = recorder.last_status.get("lost", 0)
    if lost:
        # The traffic went on, the capture did not: a script must not take it for whole.
        status.line(f"wstape: {lost:,} frames NOT RECORDED; the capture is incomplete "
                    "(the error above says why)")  # fmt: skip
        raise SystemExit(EXIT_FAILED)
    return report is not None and report.tally.failed > 0
