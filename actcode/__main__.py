"""``python -m actcode``."""

from actcode.cli.entry import main

main()
