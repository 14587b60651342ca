"""The pure pipeline: events → runs → verdicts, with the targets they are judged against."""
