"""`python -m evals`: the eval suite's command line (the same commands as `aegis eval`)."""

from aegis.cli.eval import app

app(prog_name="python -m evals")
