"""Extraction of program, policy and explanation from raw responses."""
import time

import numpy as np
import pytest

from das.engine.extract import ExtractionError, extract_program, program_source
from das.sandbox.properties import MAX_SOURCE_BYTES

FUNC = '''import numpy as np


def _helper(X):
    return X * 2.0


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy: double the rows."""
    # scale the rows
    return _helper(X_train[:n_samples])
'''


def test_fenced_block_with_prose_and_helpers():
    text = f"Here is my answer.\n\n```python\n{FUNC}\nprint(generate_hard_anomalies(2, None, None))\n```\n\nIt doubles rows."
    prog = extract_program(text)
    assert "def _helper" in prog.source and "import numpy as np" in prog.source
    assert "print(" not in prog.source
    assert prog.policy == "Policy: double the rows."
    assert prog.comments == ("scale the rows",)
    assert "It doubles rows." in prog.prose and "scale the rows" in prog.explanation


def test_picks_the_block_that_defines_the_entry_point():
    text = "```bash\npip install numpy\n```\n\n```\n" + FUNC + "```"
    assert "generate_hard_anomalies" in extract_program(text).source


def test_unfenced_code_after_prose():
    prog = extract_program("Sure.\n" + FUNC)
    assert prog.source.startswith("import numpy as np")


def test_redefinition_keeps_the_last_one():
    second = FUNC.replace("Policy: double the rows.", "Policy v2.")
    prog = extract_program("```python\n" + FUNC + "\n" + second + "```")
    assert prog.source.count("def generate_hard_anomalies") == 1 and prog.policy == "Policy v2."


@pytest.mark.parametrize("text, message", [
    ("", "empty response"),
    ("No code, only words.", "no code defines a top-level function"),
    ("```python\ndef other(x):\n    return x\n```", "no code defines a top-level function"),
    ("```python\ndef generate_hard_anomalies(n, m, X:\n```", "does not parse"),
])
def test_responses_without_a_program_are_rejected(text, message):
    with pytest.raises(ExtractionError, match=message):
        extract_program(text)


CONSTANTS = '''import numpy as np

SCALE = 1.5
SHIFTS: tuple = (0.5, -0.5)


def generate_hard_anomalies(n_samples, model, X_train):
    """Policy: scaled, shifted training rows."""
    rows = X_train[np.arange(n_samples) % len(X_train)]
    return rows * SCALE + SHIFTS[0]


example = generate_hard_anomalies(3, None, np.ones((2, 2)))
'''


def test_module_level_constants_are_kept_and_run_in_the_sandbox():
    from das.sandbox import audit_source, run_program

    prog = extract_program("```python\n" + CONSTANTS + "```")
    assert "SCALE = 1.5" in prog.source and "SHIFTS: tuple = (0.5, -0.5)" in prog.source
    assert "example =" not in prog.source  # a usage example, not a constant
    assert audit_source(prog.source).ok
    X = np.arange(8.0).reshape(4, 2)
    result = run_program(prog.source, X, 5, lambda rows: rows.sum(axis=1))
    assert result.status == "ok", result.message
    np.testing.assert_array_equal(result.output, X[np.arange(5) % 4] * 1.5 + 0.5)


def _cpu_seconds(fn, text):
    start = time.process_time()
    try:
        fn(text)
    except ExtractionError:
        pass
    return time.process_time() - start


def _many_defs(n):
    return "".join(f"def f{i}(x):\n    return x\n" for i in range(n)) + "def generate_hard_anomalies(n, model, X):\n    return X\n"


@pytest.mark.parametrize("make", [_many_defs, lambda n: "`" * (25 * n), lambda n: "```py" * (5 * n),
                                  lambda n: "```python\n" + _many_defs(n) + "```\n"])
def test_extraction_grows_linearly_with_the_text(make):
    """Every top-level def re-split the whole text (100 000 defs hung `das programs add`) and a line
    of backticks made the fence search quadratic (`das audit` took 29 s)."""
    small, large = (min(_cpu_seconds(extract_program, make(n)) for _ in range(3)) for n in (1000, 6000))
    assert large < 6 * 3 * max(small, 1e-3), (small, large)  # quadratic: 36x


def test_text_over_the_audit_size_limit_is_refused_before_extraction():
    text = "```python\n" + _many_defs(1) + "```\n" + "#" * MAX_SOURCE_BYTES
    for fn in (extract_program, program_source):
        with pytest.raises(ExtractionError, match=f"more than the {MAX_SOURCE_BYTES:,} a program may have"):
            fn(text)
