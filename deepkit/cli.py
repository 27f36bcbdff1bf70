"""The `deepkit` command line: `deepkit --version`, `deepkit list`."""

import argparse
import sys

import deepkit


def build_parser():
    parser = argparse.ArgumentParser(prog="deepkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"deepkit {deepkit.__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="list the recipes")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        print("no recipes yet")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
