"""`python -m wstape`: the same command line as `wstape`."""

from wstape.analyzer.cli.main import main

main()
