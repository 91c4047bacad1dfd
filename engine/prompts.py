"""Prompt builder reproducing the LLM-DAS prompts (App. 6.5, 6.13.2, 6.16, 6.18).

``p_initial`` asks an LLM for a detector description (Eq. 2); in this project
the description is the detector card of :mod:`detectors` (reviewed once, used
verbatim). ``p_code = p_description + p_objective + p_requirements`` (Eq. 1) asks
for the synthesis program. Variants change the objective/requirements exactly
where the paper does. Every rendered prompt carries the sha256 of its text,
which is the key of the replay corpus.
"""
from dataclasses import dataclass

from das.program_store.hashing import text_sha256
from importlib import resources

PROMPT_VERSION = "1.0"  # bump when a template changes (then re-key the corpus)

#: variant -> (header, objective, requirements, extra block or None)
VARIANTS = {
    "default": ("header", "objective_default", "requirements_default", None),
    "hardness": ("header", "objective_default", "requirements_default", "hardness"),
    "multi": ("header", "objective_multi", "requirements_multi", None),
    "generic": ("header_generic", "objective_generic", "requirements_generic", None),
    "simple": ("header", "objective_simple", "requirements_simple", None),
    "random": ("header", "objective_default", "requirements_random", None),
}
VARIANT_HELP = {
    "default": "the LLM-DAS prompt (App. 6.5)",
    "hardness": "adds the `degree` in {low, med, high} interface (App. 6.16)",
    "multi": "targets several distinct weaknesses (App. 6.18)",
    "generic": "ablation: no detector description, general-purpose code (App. 6.13.2)",
    "simple": "ablation: far-away anomalies, no model.predict_score (App. 6.13.2)",
    "random": "ablation: random instead of borderline seeds (App. 6.13.2)",
}


class PromptError(ValueError):
    """Unknown variant or detector for a prompt."""


@dataclass(frozen=True)
class Prompt:
    """One rendered prompt.

    Attributes
    ----------
    text : str
        Exact text sent to the LLM.
    variant : str
        ``default``, ``hardness``, ``multi``, ``generic``, ``simple``, ``random``
        or ``repair`` / ``initial``.
    sha256 : str
        sha256 of ``text`` (UTF-8): the replay key.
    version : str
        ``PROMPT_VERSION`` of the templates that produced it.
    detector : str
        Canonical detector name.
    """

    text: str
    variant: str
    sha256: str
    version: str
    detector: str


def template(name):
    """Text of ``engine/templates/<name>.txt`` (trailing newline stripped)."""
    return resources.files("das.engine").joinpath("templates", f"{name}.txt").read_text(
        encoding="utf-8").rstrip("\n")


def _fill(text, **values):
    # Plain replacement, not str.format: card text may contain braces.
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _card(detector):
    """(canonical name, card text) from :mod:`detectors`."""
    from das.detectors import get_card

    try:
        card = get_card(detector)
    except ValueError as exc:
        raise PromptError(str(exc)) from exc
    return card.name, str(card).strip()


def _make(text, variant, detector):
    return Prompt(text, variant, text_sha256(text), PROMPT_VERSION, detector)


def build_initial_prompt(detector):
    """``p_initial`` (input of Eq. 2): ask an LLM to describe ``detector``."""
    name, _ = _card(detector)
    return _make(_fill(template("initial"), detector=name), "initial", name)


def build_prompt(detector, variant="default"):
    """``p_code`` (input of Eq. 3) for ``detector`` in ``variant``.

    Raises
    ------
    PromptError
        For an unknown variant or detector.
    """
    if variant not in VARIANTS:
        raise PromptError(f"unknown prompt variant {variant!r}; choose from {', '.join(VARIANTS)}")
    name, description = _card(detector)
    header, objective, requirements, extra = VARIANTS[variant]
    parts = [template(header), template(objective), template(requirements)]
    if extra:
        parts.append(template(extra))
    parts.append(template("closing"))
    text = _fill("\n\n".join(parts), detector=name, description=description)
    return _make(text, variant, name)


def build_repair_prompt(prompt, source, report_text, round_no, max_rounds):
    """Repair prompt: the original ``prompt``, the rejected ``source`` and the verifier report."""
    text = _fill(
        template("repair"), original=prompt.text, source=source.strip(), report=report_text.strip(),
        round=str(round_no), max_rounds=str(max_rounds), detector=prompt.detector,
    )
    return _make(text, "repair", prompt.detector)
