import sys

from qnewton.cli import main

sys.exit(main())
