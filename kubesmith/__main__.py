"""``python -m kubesmith`` runs the ``kubesmith`` command."""

import sys

from kubesmith.cli import main

sys.exit(main())
