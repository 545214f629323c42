"""``python -m actcode``."""

from actcode.cli.main import main

main()
