import sys

from tests.harness.lms.server import main

sys.exit(main())
