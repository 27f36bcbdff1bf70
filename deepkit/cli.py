"""The `deepkit` command line: `deepkit list`, `deepkit run <recipe> [flags]`, `deepkit --version`.

`python -m deepkit` is the same command; `python -m deepkit.recipes.<recipe> [flags]` is
`deepkit run <recipe> [flags]`. The recipes are the modules of `deepkit.recipes`
(`deepkit.recipe_contract` finds them).

Exit statuses: 0 done; 1 the run failed (data that cannot be had offline, a loss or
metrics that turned NaN: nothing exported); 2 a user mistake (bad flags or config,
missing or malformed data files, a workdir that cannot be used), said in one line
without a traceback; 130 interrupted with Ctrl-C (the same command resumes).

`deepkit list`, `--help`, `--version` and argument errors answer without importing
TensorFlow, which is imported only to run a recipe; its start-up log lines are hidden
unless `--verbose` is given.
"""

import argparse
import dataclasses
import json
import os
import sys

import deepkit
from deepkit import recipe_contract
from deepkit.run_arguments import add_run_arguments
from deepkit.serving import commands as serving

USAGE_EXAMPLES = """examples:
  deepkit list
  deepkit run forecast                          train, evaluate, plot and export with the defaults
  deepkit run forecast --data co2 --epochs 20   another dataset, more or fewer epochs
  deepkit run <recipe> --smoke                  the seconds-long smoke config
  deepkit run <recipe> --set key=value          any config field (see the recipe's Config)
  deepkit run <recipe> --restart                start a damaged workdir over
the same command with the same --workdir resumes the run it left (after a crash too).
exit status: 0 done, 1 the run failed, 2 a mistake in the command, 130 interrupted."""

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def build_parser():
    parser = argparse.ArgumentParser(
        prog="deepkit", description="deepkit: train, evaluate, plot and export the recipes.",
        epilog=USAGE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"deepkit {deepkit.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{list,run,predict,serve}")
    commands.add_parser("list", help="the recipes: name, task, default data, what it does")
    run_parser = commands.add_parser("run", help="run a recipe: train, evaluate, plot, export")
    run_parser.add_argument("recipe", help="recipe name (see `deepkit list`)")
    add_run_arguments(run_parser)
    serving.add_predict_arguments(commands.add_parser(
        "predict", help="run a SavedModel on a file (TensorFlow Serving JSON, .npy, text) with TensorFlow alone"))
    serving.add_serve_arguments(commands.add_parser(
        "serve", help="serve a model's newest SavedModel version with TensorFlow Serving's REST API"))
    return parser, run_parser


def list_recipes():
    rows = [("recipe", "task", "default data", "description")]
    for name in recipe_contract.recipe_names():
        task, data, description = recipe_contract.recipe_summary(name)
        if None in (task, data, description):  # not spelt as literals: ask the module itself
            from deepkit.recipe import load_recipe

            module = load_recipe(name)
            task, data, description = module.TASK, module.Config().data, module.__doc__.strip().splitlines()[0]
        rows.append((name, task, data, description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
    return 0


def _recipe_help(run_parser, argv):
    """`deepkit run <recipe> --help` also lists the recipe's config fields."""
    if "run" not in argv or not {"-h", "--help"} & set(argv):
        return
    known = recipe_contract.recipe_names()
    names = [arg for arg in argv[argv.index("run") + 1 :] if arg in known]
    if names:
        reference = recipe_contract.config_reference_from_source(names[0])
        if reference is None:
            from deepkit import recipe

            reference = recipe.config_reference(recipe.load_recipe(names[0]))
        run_parser.epilog = reference
        run_parser.formatter_class = argparse.RawDescriptionHelpFormatter


def quiet_tensorflow(verbose):
    """Hides TensorFlow's start-up lines (CUDA probes, CPU features) unless ``verbose``.

    TF_CPP_MIN_LOG_LEVEL is read once, when TensorFlow's C++ runtime loads, so it is set
    here, before anything imports TensorFlow (a value the user set is kept); the lines
    absl writes before its logging starts ignore it, and :mod:`deepkit.log_filter` drops
    them, in the command's own process only (not when a test calls :func:`main`).
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if deepkit._started_as_the_command_line():
        from deepkit import log_filter

        log_filter.hide_tensorflow_start_up_lines()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, run_parser = build_parser()
    _recipe_help(run_parser, argv)
    args = parser.parse_args(argv)
    if args.command == "list":
        return list_recipes()
    if args.command in ("predict", "serve"):
        quiet_tensorflow(verbose=False)
        command = serving.run_predict if args.command == "predict" else serving.run_serve
        return command(args, parser)
    if args.command == "run":
        try:
            recipe_contract.check_recipe_name(args.recipe)
            recipe_contract.check_arguments_from_source(args.recipe, args)
        except ValueError as error:
            run_parser.error(str(error))
        quiet_tensorflow(args.verbose)
        from deepkit import recipe

        run_recipe(recipe.load_recipe(args.recipe), args, run_parser)
        return 0
    parser.print_help()
    return EXIT_USAGE


# === Running a recipe ===


def _explicit_keys(args):
    """The config keys the command line sets itself (--set, --config)."""
    keys = {item.partition("=")[0].strip() for item in args.set}
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as f:
                loaded = json.load(f)
            keys |= set(loaded) if isinstance(loaded, dict) else set()
        except (OSError, ValueError):
            pass  # config_from_arguments reports it
    return keys


def _fail(parser, status, message):
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    sys.exit(status)


def _is_user_data_error(error):
    """A ValueError, OSError or KeyError raised by deepkit.data about the user's data."""
    return isinstance(error, (ValueError, OSError, KeyError)) and str(error).strip("'\"").startswith("deepkit.data")


def run_recipe(module, args, parser):
    """Runs a recipe from parsed arguments (see the module docstring for the exit statuses)."""
    from deepkit import distribution, non_finite, recipe, workdir as workdirs

    try:
        config = recipe.config_from_arguments(module, args)
        workdir = args.workdir or os.path.join("runs", module.NAME + ("-smoke" if args.smoke else ""))
        if args.smoke and "export_dir" not in _explicit_keys(args):
            # A smoke model beside the real versions would be the one a server switches to.
            config = dataclasses.replace(config, export_dir=os.path.join(workdir, "saved_models"))
        # A non-chief worker of --strategy multiworker writes into a temporary folder instead.
        placement = distribution.place(getattr(args, "strategy", "default"), workdir, config,
                                       resume=not args.restart)
        workdir, config = placement.workdir, placement.config
        recipe.dataset_info(config)
        if args.restart:
            workdirs.restart(workdir)
        workdirs.check_before_start(config, workdir, module.NAME)
    except (ValueError, OSError) as error:
        parser.error(str(error))  # prints usage and the message, exits 2
    try:
        return recipe.train_and_evaluate(module, config, workdir, placement)
    except KeyboardInterrupt:
        opened = workdirs.open_workdirs()
        epoch = opened[0].epoch if opened else None
        where = f" at epoch {epoch}" if epoch else ""
        _abandon(workdirs)
        _fail(parser, EXIT_INTERRUPTED, f"interrupted{where}; the same command resumes from the last finished epoch")
    except (non_finite.NonFiniteLossError, non_finite.NonFiniteMetricsError) as error:
        _abandon(workdirs)
        _fail(parser, EXIT_FAILED, str(error))
    except workdirs.WorkdirError as error:
        _abandon(workdirs)
        _fail(parser, EXIT_USAGE, str(error))
    except (ConnectionError, ImportError) as error:
        _abandon(workdirs)
        if not str(error).startswith("deepkit.data"):
            raise  # a bug, not data that cannot be had: keep the traceback
        _fail(parser, EXIT_FAILED, str(error))
    except Exception as error:
        started = _training_started(workdirs)
        _abandon(workdirs)
        # Before training, a ValueError or TypeError is the config's (a layer refusing
        # units=0); after it, only deepkit.data's are the user's: anything else is a bug.
        mistake = not started and isinstance(error, (ValueError, TypeError, OSError, KeyError))
        if args.verbose or not (mistake or _is_user_data_error(error)):
            raise  # a bug (or --verbose): keep the traceback
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        _fail(parser, EXIT_USAGE, message)


def _training_started(workdirs):
    return any(opened.committed for opened in workdirs.open_workdirs())


def _abandon(workdirs):
    for opened in workdirs.open_workdirs():
        opened.abandon()


if __name__ == "__main__":
    sys.exit(main())
