# SPDX-License-Identifier: Apache-2.0
"""``python -m econ_fast ...``: see :mod:`econ_fast.cli`."""
import sys

from .cli import main

sys.exit(main())
