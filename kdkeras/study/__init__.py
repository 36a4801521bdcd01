"""KD methods compared on one recipe: the study behind `tools/compare.py`, as a library.

- `plan`: the flags, and the `Plan` of runs (methods, variants, seeds) they describe;
- `run`: training the plan's runs not finished yet, resumable;
- `records`: each run's small records, kept beside the report so a clone can check and rebuild it;
- `collect`: the rows of the report, from the records (or the committed results.csv where they are lost);
- `statistics`: means over seeds and differences paired by seed with their t-intervals;
- `peer`: another implementation's figures, from the file its tool wrote;
- `report` and `plots`: results.csv, results.md and the figures.

Example:
    plan = study.plan.plan_from_flags(FLAGS)
    study.run.run_all(plan)  # or study.run.publish(plan) to write the report only
"""
