"""Everything wstape does offline, by stage: sources (capture, flow file, HAR) → protocols (one
decoder per wire protocol) → pipeline (runs, rules, targets; pure) → reports; with compare,
replay, export and the command line on top. docs/architecture.md draws it."""
