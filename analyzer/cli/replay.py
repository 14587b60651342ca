"""`wstape replay`: re-drive the client side of a capture against another build and record what
it answers into a new capture; a thin wrapper over wstape.analyzer.replay.drive.replay."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import click

from wstape.analyzer.api import analyze as analyze_captures
from wstape.analyzer.cli.common import (
    EXIT_FAILED,
    InputError,
    input_errors,
    profile_option,
    require_option,
    warn,
)
from wstape.analyzer.profile import ProfileError
from wstape.analyzer.replay.drive import replay as replay_capture
from wstape.analyzer.replay.options import ReplayError, ReplayOptions, check_target
from wstape.analyzer.replay.state import ReplayResult
from wstape.analyzer.reports.report import Report
from wstape.analyzer.reports.text import render_summary
from wstape.recorder.private import open_private

JSON_VERSION = 1
ROWS = 40  # connections listed; failed ones first, the rest are counted


def _pairs(separator: str, example: str):
    def parse(ctx, param, values):
        out = []
        for value in values:
            name, found, rest = value.partition(separator)
            if not found or not name.strip():
                raise click.BadParameter(f"{value!r} is not {example}")
            out.append((name.strip(), rest.strip() if separator == ":" else rest))
        return tuple(out)

    return parse


def _checked_target(ctx, param, value):
    try:
        check_target(value)
    except ReplayError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.command()
@click.argument("capture", type=click.Path(path_type=str))
@click.option(
    "--target",
    required=True,
    callback=_checked_target,
    metavar="URL",
    help="The build to replay against: http://, https://, ws:// or wss:// (WebSocket connections "
    "go to ws:// and HTTP streams to http:// on it, TLS as the scheme says). Its host and port "
    "always apply; its path replaces the recorded one unless it is empty or /.",
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New capture folder for the replayed conversations (must not hold a capture yet).",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Divide every recorded gap by this (2 = twice as fast). Waits for replies are not scaled.",
)
@click.option(
    "--as-fast-as-possible",
    is_flag=True,
    help="No gaps at all: send each message as soon as its reply has come; start every "
    "connection at once (reconnections still after the connection they follow).",
)
@click.option(
    "--concurrency",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Keep at most N connections open; 0 overlaps them exactly as recorded.",
)
@click.option(
    "--reply-timeout",
    default=10.0,
    show_default=True,
    metavar="S",
    type=click.FloatRange(min=0, min_open=True),
    help="Give up waiting for a reply S seconds later than it came in the recording, and go on.",
)
@click.option(
    "--open-timeout",
    default=10.0,
    show_default=True,
    metavar="S",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a handshake, or an HTTP stream's response headers, may take.",
)
@click.option(
    "--token",
    envvar="WSTAPE_TOKEN",
    metavar="TOKEN",
    help="Send 'Authorization: Bearer TOKEN' on every connection and request (or set "
    "WSTAPE_TOKEN). For a token in the URL use --query token=TOKEN.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    callback=_pairs(":", "NAME: VALUE"),
    help="Send this header on every handshake and HTTP request, replacing a recorded one of "
    "that name (repeatable).",
)
@click.option(
    "--query",
    multiple=True,
    metavar="NAME=VALUE",
    callback=_pairs("=", "NAME=VALUE"),
    help="Set this query parameter on every URL, replacing a recorded one (repeatable).",
)
@click.option(
    "--subprotocol",
    "subprotocols",
    multiple=True,
    metavar="NAME",
    help="Offer these WebSocket subprotocols instead of the recorded ones (repeatable).",
)
@click.option(
    "--target-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    metavar="PEM",
    help="Trust this CA for a wss:// or https:// target's certificate.",
)
@click.option(
    "--insecure", is_flag=True, help="Do not verify a wss:// or https:// target's certificate."
)
@profile_option(" (for triggers and ids), and the targets", sniffed=False)
@require_option
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
    metavar="FILE",
    help="Also write the summary and the analysis as JSON; '-' prints only JSON.",
)
def replay(
    capture, target, out, target_ca, insecure, profile, require, json_out, **options
) -> None:
    """Replay the client side of CAPTURE against --target and record the new conversation.

    Every recorded connection is opened again (same path, query and subprotocols; connections
    that overlapped overlap again) and its client's messages are sent in order. Every recorded
    HTTP stream (SSE, NDJSON) is requested again (same method, path, headers and body) at its
    recorded offset, or, when it followed a stream of the same conversation, once that one's
    replay has ended; its answer is recorded event by event. A message waits
    for the server frame the recorded client had last seen before sending it (app pings aside),
    counted by kind on its connection ("the 2nd agent_completed"), then the recorded gap. A
    frame of a run also counts as seen once that run has ended, and a wait gives up
    --reply-timeout seconds later than the reply came in the recording, so a dropped event never
    hangs the replay. The new server's app pings are answered; the recorded pongs are not
    re-sent. run_id, thread_id and execution_id values that the recorded server minted and a
    client sent back (a resume) are replaced by the ones the new server minted. Redacted
    secrets are left out: give fresh ones with --token, --header or --query.

    Prints each connection, the totals and the analysis of the new capture. Exit 0 when every
    connection replayed, 1 when any failed (refused, ended by the server mid-replay, a stream
    cut short, a request answered with an error status or not with a stream), 2 on bad usage or
    an unreadable capture. Compare the captures to judge the new build.

    \b
    Examples:
      wstape replay captures/today --target ws://127.0.0.1:9000/ws --out captures/next
      wstape replay captures/today --target wss://staging.internal/ws --out captures/staging \\
                    --token "$STAGING_TOKEN" --speed 4 --concurrency 20
      wstape replay captures/today --target ws://127.0.0.1:9000 --out captures/fast \\
                    --as-fast-as-possible --reply-timeout 3 --json -
      wstape replay captures/agui-sse --target http://127.0.0.1:8000 --out captures/agui-next \\
                    --header "Authorization: Bearer $TOKEN" --profile ag-ui
    """
    subprotocols = options.pop("subprotocols") or None
    with input_errors():
        tls = _ssl(target, target_ca, insecure)
        settings = ReplayOptions(**options, subprotocols=subprotocols, ssl=tls)
        try:
            result = replay_capture(capture, target, out, settings, profile, warn=warn)
            report = analyze_captures(out, profile, keep_events=False, require=require)
        except ReplayError as exc:
            raise InputError(str(exc)) from None
        except ProfileError as exc:
            raise InputError(str(exc)) from None
        except KeyboardInterrupt:
            raise click.ClickException(f"replay stopped; what was replayed is in {out}") from None
    _show(result, report, json_out)
    if not result.ok:
        click.get_current_context().exit(EXIT_FAILED)


def _show(result: ReplayResult, report: Report, json_out: str | None) -> None:
    if json_out == "-":
        click.echo(json.dumps(result_json(result, report), indent=2, ensure_ascii=False))
    else:
        click.echo(render_replay(result) + "\n\nanalysis of the replayed capture:")
        click.echo(render_summary(report))
    if json_out and json_out != "-":
        with open_private(json_out, "w", encoding="utf-8") as file:
            json.dump(result_json(result, report), file, indent=2, ensure_ascii=False)
            file.write("\n")


def _ssl(target: str, ca: str | None, insecure: bool) -> ssl.SSLContext | None:
    if not target.startswith(("wss:", "https:")) or not (ca or insecure):
        return None
    try:
        context = ssl.create_default_context(cafile=ca)
    except ssl.SSLError as exc:
        raise InputError(f"{ca}: not a usable CA certificate ({exc.reason or exc})") from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def render_replay(result: ReplayResult) -> str:
    """One line per connection (failed first), its notes, then the totals."""
    conns = result.connections
    rows = [*result.failed, *(c for c in conns if not c.error)]
    lines = [f"replay of {result.capture} against {result.target}, written to {result.out}"]
    for conn in rows[:ROWS]:
        if conn.error:
            lines.append(f"❌ {conn.original}: {conn.error}")
        elif conn.transport != "websocket":
            lines.append(
                f"✅ {conn.original} → {conn.connection}: sent the request, received "
                f"{conn.received} events; {conn.ended}"
            )
        else:
            lines.append(
                f"✅ {conn.original} → {conn.connection}: sent {conn.sent}, received "
                f"{conn.received}, answered {conn.answered} pings; {conn.ended}"
            )
        lines += [f"     {note}" for note in conn.notes]
    if len(rows) > ROWS:
        lines.append(f"   ... and {len(rows) - ROWS} more connections; --json has every one")
    failed = len(result.failed)
    lines.append(
        f"replayed {len(conns) - failed} of {len(conns)} connections in {result.elapsed_s:.1f}s: "
        f"{sum(c.sent for c in conns)} messages sent, {sum(c.unsent for c in conns)} not sent, "
        f"{sum(c.received for c in conns)} received; {failed} connections failed"
    )
    if result.ids:
        shown = ", ".join(f"{old} → {new}" for old, new in list(result.ids.items())[:3])
        lines.append(f"ids rewritten: {len(result.ids)} ({shown})")
    return "\n".join(lines)


def result_json(result: ReplayResult, report: Report) -> dict:
    replayed = {
        "capture": result.capture,
        "target": result.target,
        "out": str(result.out),
        "elapsed_s": round(result.elapsed_s, 6),
        "connections": [
            {
                "original": c.original,
                "connection": c.connection,
                "transport": c.transport,
                "url": c.url,
                "sent": c.sent,
                "unsent": c.unsent,
                "received": c.received,
                "answered_pings": c.answered,
                "timeouts": c.timeouts,
                "ended": c.ended,
                "error": c.error,
                "notes": list(c.notes),
            }
            for c in result.connections
        ],
        "failed": len(result.failed),
        "ids": dict(result.ids),
    }
    return {"version": JSON_VERSION, "replay": replayed, "analysis": report.to_json()}
