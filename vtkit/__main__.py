import sys

from vtkit.cli import main

sys.exit(main())
