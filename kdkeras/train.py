"""`python -m kdkeras.train --flagfile=configs/blkd.flags`: one KD experiment.

Trains what `--method` needs (teacher, assistants, stages, student), shows
Keras progress bars, writes TensorBoard logs under `output_dir/logs`, a
per-epoch CSV per model, `<role>.keras` for every model (`student.keras` is
the final one) and `results.json`. Run again with the same flags, it reuses
what is finished and resumes what is not. The flags are `TrainConfig`'s
fields (`kdkeras/config.py`); the work is `kdkeras.experiment.train`.
"""

from absl import app, flags

from kdkeras import cli, config
from kdkeras.errors import UsageError
from kdkeras.experiment import train

config.define_flags()
FLAGS = flags.FLAGS
parse_flags = cli.parse_flags


@cli.run(on_interrupt=cli.RESUME_HINT)
def main(argv):
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {' '.join(argv[1:])}; every setting is a --flag")
    settings = config.from_flags(FLAGS).validate()
    with cli.naming_flag("--dataset", settings.dataset):
        train(settings)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
