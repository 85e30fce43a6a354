# SPDX-License-Identifier: Apache-2.0
import os
import sys

# Make tests/cases.py importable as `cases` (tests/ is not a package).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
