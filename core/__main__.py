import sys

from core.cli import main, stop_on_sigterm

stop_on_sigterm()
sys.exit(main())
