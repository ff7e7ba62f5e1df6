"""The training command line refuses bad arguments with a clear message and exit code 2."""

import pytest

from training.__main__ import main as cli


@pytest.mark.parametrize("days", ["0", "-1", "nan", "1.5", "many"])
def test_simulate_refuses_days_that_are_not_a_positive_whole_number(tmp_path, capsys, days):
    with pytest.raises(SystemExit) as exc:
        cli(["simulate", "--days", days, "--out", str(tmp_path / "w")])
    assert exc.value.code == 2
    assert f"argument --days: must be a whole number >= 1, not '{days}'" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()  # nothing written (0 once meant the config's 30 days)


@pytest.mark.parametrize("args", [["cv", "--folds", "0"], ["cv", "--max-folds", "-2"], ["train", "--epochs", "0"]])
def test_counts_must_be_positive(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exc:
        cli([*args, "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "must be a whole number >= 1" in capsys.readouterr().err


def test_unknown_log_level_is_a_usage_error_and_known_ones_any_case(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["--log-level", "foo", "simulate", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "invalid choice: 'FOO'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # accepted, then the real source's missing inputs are the error
        cli(["--log-level", "debug", "build-dataset", "--source", "real", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "needs --data DIR and --catalog CSV" in capsys.readouterr().err


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["simulate", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "(default: frg604rc)" in out and "(default: None)" not in out


def test_model_report_refuses_runs_without_the_cross_validation(tmp_path, caplog):
    assert cli(["model-report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 2
    assert "cv_loeo" in caplog.text and "run the cross-validation first" in caplog.text


def test_model_report_rows_have_the_header_s_columns_when_a_result_is_missing():
    from training.model_report import HEADER, side_by_side

    cv = {"model": {"detection": {"auc": 0.9}}, "controls": {}, "baselines": {}}
    rows = [line for line in side_by_side({"cv_loeo": cv}) if line.startswith("| ")]
    assert len(rows) > 4 and {row.count("|") for row in rows} == {HEADER[0].count("|")}
