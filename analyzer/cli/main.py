"""The `wstape` command line: a click group over the subcommands in analyzer/commands/."""

from __future__ import annotations

import click

from wstape.analyzer.cli.analyze import analyze_command
from wstape.analyzer.cli.compare import compare_command
from wstape.analyzer.cli.demo import demo
from wstape.analyzer.cli.export import export
from wstape.analyzer.cli.pipes import quiet_when_reader_leaves
from wstape.analyzer.cli.profiles import profiles
from wstape.analyzer.cli.record import record
from wstape.analyzer.cli.replay import replay
from wstape.analyzer.cli.watch import watch_command

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="wstape")
def main() -> None:
    """Record WebSocket chats between clients and an AI-agent backend, and check
    offline that every chat got its seven events, in order, on time, to the
    right user.

    \b
    A first session:
      wstape demo                                   # demo backend, recorder, users, report
      wstape record --upstream http://127.0.0.1:8000 --listen 127.0.0.1:8080 --out captures/r41
      wstape analyze captures/r41 --html report.html   # a verdict per chat run
      wstape watch captures/r41 --follow              # the same, live, as it is recorded
      wstape export captures/r41 | head               # every frame as JSON lines
      wstape replay captures/r41 --target ws://127.0.0.1:9000/ws --out captures/r42
      wstape compare captures/r41 captures/r42        # exit 1 if r42 regressed

    Exit codes: 0 all good, 1 a verdict failed or a regression was found,
    2 bad usage or unreadable input. In a pipe that closes early (`| head`), the
    output stops quietly, the files asked for are still written and the exit
    code is still the verdict's.
    """
    quiet_when_reader_leaves()


for command in (record, analyze_command, watch_command, compare_command, export, demo):
    main.add_command(command)
main.add_command(replay)
main.add_command(profiles)


if __name__ == "__main__":
    main()
