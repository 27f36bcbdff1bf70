"""The `deepkit` command line: `deepkit list`, `deepkit run <recipe> [flags]`, `deepkit --version`."""

import argparse
import sys

import deepkit


def build_parser():
    parser = argparse.ArgumentParser(prog="deepkit", description="deepkit: train, evaluate, plot and export recipes.")
    parser.add_argument("--version", action="version", version=f"deepkit {deepkit.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{list,run}")
    commands.add_parser("list", help="list the recipes (name, task, default data)")
    run_parser = commands.add_parser("run", help="run a recipe: train, evaluate, plot, export")
    run_parser.add_argument("recipe", help="recipe name (see `deepkit list`)")
    from deepkit.recipe import add_run_arguments

    add_run_arguments(run_parser)
    return parser, run_parser


def list_recipes():
    from recipes import RECIPES, load_recipe

    rows = []
    for name in RECIPES:
        module = load_recipe(name)
        rows.append((name, module.TASK, module.Config().data, module.__doc__.strip().splitlines()[0]))
    widths = [max(len(row[i]) for row in rows + [("recipe", "task", "default data", "")]) for i in range(3)]
    print(f"{'recipe':<{widths[0]}}  {'task':<{widths[1]}}  {'default data':<{widths[2]}}  description")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    return 0


def main(argv=None):
    parser, run_parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        return list_recipes()
    if args.command == "run":
        from deepkit.recipe import run
        from recipes import load_recipe

        try:
            module = load_recipe(args.recipe)
        except ValueError as error:
            run_parser.error(str(error))
        run(module, args, run_parser)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
