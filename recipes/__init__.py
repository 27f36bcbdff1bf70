"""Ready-made recipes: each trains, evaluates, plots and exports a model for one task.

Installed as ``deepkit.recipes``: every module here is a recipe (``deepkit list`` shows
them), run with ``deepkit run <name>`` or ``python -m deepkit.recipes.<name>``. What a
recipe module defines is in ``deepkit.recipe``'s docstring; docs/adding_a_recipe.md
walks through adding one.
"""
