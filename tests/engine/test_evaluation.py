"""The evaluation says each of its steps as it starts it: a long one (MC dropout, an OOD or shifted
set) is never minutes of silence (the vision quick try's final evaluation was)."""

import re
import shutil

from textmix.cli import main


def test_textmix_evaluate_logs_each_step_as_it_starts(small_mr_run, real_data, tmp_path, caplog):
    run = tmp_path / "run"
    shutil.copytree(small_mr_run, run)
    with caplog.at_level("INFO", logger="textmix.engine.evaluation"):
        code = main(["evaluate", str(run), "--set", "eval.mc_dropout_samples=2", "--set", "eval.ood=[random_tokens]",
                     "--set", "eval.bootstrap_resamples=0"])  # fmt: skip
    assert code == 0
    steps = [r.getMessage() for r in caplog.records if r.name == "textmix.engine.evaluation"]
    assert re.match(r"evaluation: predictions on validation \([\d,]+\), test \([\d,]+\)", steps[0])
    assert steps[1:] == ["evaluation: MC dropout, 2 passes over test",
                         "evaluation: out-of-distribution set random_tokens (1,066)",
                         "evaluation: calibrators, intervals, noise floors and conformal sets"]  # fmt: skip
