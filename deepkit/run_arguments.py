"""The flags of ``deepkit run <recipe>`` and ``python -m deepkit.recipes.<recipe>``.

Kept apart from :mod:`deepkit.recipe` and free of TensorFlow, so that the command
line can parse (and refuse) its arguments and print its help in a fraction of a
second, before a recipe, Keras or TensorFlow is imported.
"""


def add_run_arguments(parser):
    parser.add_argument("--epochs", type=int, help="training epochs (a finished run trains on to this many)")
    parser.add_argument("--batch-size", type=int, dest="batch_size",
                        help="batch size; the global one: --strategy mirrored or multiworker splits it "
                        "evenly between the replicas")
    parser.add_argument("--data", help="dataset name (see deepkit.data.list_datasets()), e.g. co2 or tfds:mnist")
    parser.add_argument("--workdir", help="logs, checkpoints, plots, metrics (default runs/<recipe>); "
                        "the same workdir again resumes its run")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set any config field (repeatable), e.g. --set units=64 --set export_dir=/srv/models")
    parser.add_argument("--config", metavar="FILE", help="JSON object of config fields")
    parser.add_argument("--smoke", action="store_true",
                        help="start from the recipe's seconds-long smoke config; its SavedModel goes to "
                        "<workdir>/saved_models unless export_dir is set, never beside the real ones")
    parser.add_argument("--restart", action="store_true",
                        help="delete the run in --workdir first and start it over (for a damaged workdir)")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                        help="tf.distribute strategy: default (one device), mirrored (every GPU of this "
                        "machine), multiworker (the workers of TF_CONFIG; only the chief writes results); "
                        "batch_size stays the global batch")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up and device log lines")
