"""One module per `wstape` subcommand: thin click wrappers over library functions."""
