"""`python -m chatrepl`."""

from chatrepl.cli import main

raise SystemExit(main())
