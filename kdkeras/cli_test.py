import pytest

from kdkeras import cli
from kdkeras.errors import TrainingError, UsageError


def _raising(error):
    def main(argv):
        raise error

    return main


@pytest.mark.parametrize(
    "error, code, line",
    [
        (UsageError("--epochs=-1: expected a positive integer"), 2, "error: --epochs=-1: expected a positive integer"),
        (TrainingError("the loss diverged"), 1, "error: the loss diverged"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_each_ending_is_one_line_and_its_exit_status(error, code, line, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.run(_raising(error))(["prog"])
    assert stop.value.code == code
    assert capsys.readouterr().err.splitlines() == [line]


def test_a_resumable_command_says_how_to_go_on_after_ctrl_c(capsys):
    main = cli.run(on_interrupt=cli.RESUME_HINT)(_raising(KeyboardInterrupt()))
    with pytest.raises(SystemExit) as stop:
        main(["prog"])
    assert stop.value.code == cli.INTERRUPTED_EXIT_CODE == 130
    assert capsys.readouterr().err == f"interrupted; {cli.RESUME_HINT}\n"


def test_a_main_that_returns_passes_its_value_through():
    @cli.run
    def main(argv):
        return len(argv)

    assert main(["prog", "x"]) == 2
    assert main.__name__ == "main"
