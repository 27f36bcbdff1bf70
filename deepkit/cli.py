"""The `deepkit` command line: `deepkit list`, `deepkit run <recipe> [flags]`, `deepkit --version`.

`python -m deepkit` is the same command; `python -m deepkit.recipes.<recipe> [flags]` is
`deepkit run <recipe> [flags]`. The recipes are the modules of `deepkit.recipes`
(`deepkit.recipe_contract` finds them). Bad command lines exit with status 2 and a
one-line message.
"""

import argparse
import sys

import deepkit
from deepkit import recipe

USAGE_EXAMPLES = """examples:
  deepkit list
  deepkit run forecast                          train, evaluate, plot and export with the defaults
  deepkit run forecast --data co2 --epochs 20   another dataset, more or fewer epochs
  deepkit run <recipe> --smoke                  the seconds-long smoke config
  deepkit run <recipe> --set key=value          any config field (see the recipe's Config)
the same command with the same --workdir resumes the run it left (after a crash too)."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="deepkit", description="deepkit: train, evaluate, plot and export the recipes.",
        epilog=USAGE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"deepkit {deepkit.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{list,run}")
    commands.add_parser("list", help="the recipes: name, task, default data, what it does")
    run_parser = commands.add_parser("run", help="run a recipe: train, evaluate, plot, export")
    run_parser.add_argument("recipe", help="recipe name (see `deepkit list`)")
    recipe.add_run_arguments(run_parser)
    return parser, run_parser


def list_recipes():
    rows = [("recipe", "task", "default data", "description")]
    for name in recipe.recipe_names():
        module = recipe.load_recipe(name)
        rows.append((name, module.TASK, module.Config().data, module.__doc__.strip().splitlines()[0]))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
    return 0


def _recipe_help(run_parser, argv):
    """`deepkit run <recipe> --help` also lists the recipe's config fields."""
    if "run" not in argv or not {"-h", "--help"} & set(argv):
        return
    known = recipe.recipe_names()
    names = [arg for arg in argv[argv.index("run") + 1 :] if arg in known]
    if names:
        run_parser.epilog = recipe.config_reference(recipe.load_recipe(names[0]))
        run_parser.formatter_class = argparse.RawDescriptionHelpFormatter


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, run_parser = build_parser()
    _recipe_help(run_parser, argv)
    args = parser.parse_args(argv)
    if args.command == "list":
        return list_recipes()
    if args.command == "run":
        try:
            module = recipe.load_recipe(args.recipe)
        except ValueError as error:
            run_parser.error(str(error))
        recipe.run(module, args, run_parser)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
