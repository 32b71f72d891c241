"""`python -m kagglekit` runs the CLI."""

from kagglekit.cli import main

main()
