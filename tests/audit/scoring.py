"""Score the audit and serverless-rules on the hand-labelled corpus (tests and benchmark share it).

A hazard is (template folder, hazard id, resource key); hazard ids are the audit's
rule ids. serverless-rules' matches are mapped onto the same hazards by their rule
id and the resource path cfn-lint reports; matches about something else (tracing,
logging, memory...) are its noise.
"""

from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
LABELS = CORPUS / "labels.tsv"

Hazard = tuple[str, str, str]

#: serverless-rules rule id -> the hazard it reports (others are not about losing events).
SERVERLESS_RULES_HAZARDS = {
    "ES6000": "sqs-no-redrive-policy",
    "ES7000": "sns-subscription-no-dlq",
    "ES4000": "events-target-no-dlq",
    "ES1001": "stream-on-failure-destination",
    "ES1007": "lambda-async-failure-destination",
}


def templates() -> list[Path]:
    """Return every vendored template of the corpus, one per folder."""
    out = []
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        found = [p for p in folder.iterdir() if p.name in ("template.yaml", "template.yml")]
        if len(found) != 1:
            raise AssertionError(f"corpus folder '{folder.name}' needs exactly one template")
        out.append(found[0])
    return out


def labels() -> tuple[set[Hazard], set[str]]:
    """Return the labelled hazards and the folders the labels file covers."""
    hazards: set[Hazard] = set()
    folders: set[str] = set()
    for n, line in enumerate(LABELS.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 4 or not parts[3].strip():
            raise AssertionError(f"{LABELS}:{n}: expected 4 tab-separated fields with a reason")
        folder, hazard, key, _ = parts
        folders.add(folder)
        if hazard != "-":
            hazards.add((folder, hazard, key))
    return hazards, folders


@dataclass
class ToolRun:
    """What one tool reported on the corpus."""

    name: str
    outputs: int = 0
    found: set[Hazard] = field(default_factory=set)
    noise: int = 0
    unmapped: list[str] = field(default_factory=list)


def run_chaoskit() -> ToolRun:
    """Run the audit on every corpus template (offline)."""
    from chaoskit.audit import audit_templates

    run = ToolRun("chaoskit")
    for template in templates():
        for f in audit_templates([template]).findings:
            run.outputs += 1
            run.found.add((template.parent.name, f.rule, f.key))
    return run


def _permission_functions(template: Path) -> dict[str, str]:
    from cfnlint.decode import decode

    doc, _ = decode(str(template))
    out = {}
    for lid, res in (doc.get("Resources") or {}).items():
        if res.get("Type") == "AWS::Lambda::Permission":
            name = (res.get("Properties") or {}).get("FunctionName")
            if isinstance(name, dict):
                name = name.get("Ref") or (name.get("Fn::GetAtt") or [None])[0]
            if isinstance(name, str):
                out[str(lid)] = name.split(".")[0]
    return out


def _key(path: list[object], hazard: str, template: Path) -> str:
    if len(path) >= 5 and path[2] == "Properties" and path[3] == "Events":
        if hazard == "lambda-async-failure-destination":
            return str(path[1])
        return f"{path[1]}/{path[4]}"
    key = str(path[1]) if len(path) > 1 else "?"
    if hazard == "lambda-async-failure-destination":
        return _permission_functions(template).get(key, key)
    return key


def run_serverless_rules() -> ToolRun:
    """Run cfn-lint with serverless-rules appended (its documented ``-a`` usage), in process."""
    from cfnlint.api import ManualArgs, lint_file

    run = ToolRun("serverless-rules")
    config = ManualArgs(append_rules=["cfn_lint_serverless.rules"])
    for template in templates():
        for m in lint_file(template, config=config):
            rule_id = m.rule.id
            if not rule_id.startswith(("ES", "WS", "IS")):
                continue  # cfn-lint's own rules, not serverless-rules
            run.outputs += 1
            hazard = SERVERLESS_RULES_HAZARDS.get(rule_id)
            if hazard is None:
                run.noise += 1
                run.unmapped.append(f"{template.parent.name}: {rule_id} {m.message}")
                continue
            path = list(m.path or [])
            run.found.add((template.parent.name, hazard, _key(path, hazard, template)))
    return run


@dataclass
class Score:
    """Recall, precision and noise of one tool on the labelled hazards."""

    tool: str
    hazards: int
    outputs: int
    true_positives: int
    false_positives: list[Hazard]
    missed: list[Hazard]
    off_topic: int

    @property
    def recall(self) -> float:
        return self.true_positives / self.hazards if self.hazards else 1.0

    @property
    def precision(self) -> float:
        reported = self.true_positives + len(self.false_positives)
        return self.true_positives / reported if reported else 1.0

    @property
    def noise_share(self) -> float:
        """Share of the tool's output lines that are not a labelled hazard."""
        if not self.outputs:
            return 0.0
        return (len(self.false_positives) + self.off_topic) / self.outputs


def score(run: ToolRun, hazards: set[Hazard]) -> Score:
    """Score a tool's findings against the labels."""
    return Score(
        tool=run.name,
        hazards=len(hazards),
        outputs=run.outputs,
        true_positives=len(run.found & hazards),
        false_positives=sorted(run.found - hazards),
        missed=sorted(hazards - run.found),
        off_topic=run.noise,
    )
