"""Playing scenarios: their vocabulary (spec.py), the shared targets and expectations the
scenario files build from (expect.py, national.py), the runner that plays one inside a
sealed run (runner.py) with its matrix, prediction and outside view, and the command line
(cli.py) behind ``python -m scenarios``. The scenarios themselves are in scenarios/."""
