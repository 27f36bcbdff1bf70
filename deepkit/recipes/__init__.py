"""The recipes, in a source checkout: this package's path is the repository's ``recipes/``.

An installed deepkit holds the recipes in ``deepkit/recipes/`` itself (setup.cfg maps the
package ``deepkit.recipes`` to the folder ``recipes/``, and this file is not installed).
Run from the repository root, where this ``deepkit/`` folder shadows the installed one,
``deepkit.recipes.<name>`` imports ``recipes/<name>.py`` through the path set here.
"""

import os

__path__ = [os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "recipes")]
