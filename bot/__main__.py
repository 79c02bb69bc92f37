"""`python -m bot`: run the Discord bot (same as `newsbot bot`)."""

import sys

from bot.app import main

sys.exit(main())
