"""Detection: Sigma rules parsed by pySigma, compiled to predicates, matched against events.

Pipeline: `load` (YAML -> pySigma rules -> `compile`) -> `RuleSet` -> `DetectionEngine.match`.
Log source routing lives in `logsource`; vocabulary in `model`.
"""

from stockade.detection.compile import CompiledRule, UnsupportedRuleError, compile_rule
from stockade.detection.engine import DetectionEngine
from stockade.detection.load import RuleSet, builtin_rules, load_rule_paths, load_rule_text
from stockade.detection.model import Match, RuleInfo, RuleProblem

__all__ = [
    "CompiledRule",
    "DetectionEngine",
    "Match",
    "RuleInfo",
    "RuleProblem",
    "RuleSet",
    "UnsupportedRuleError",
    "builtin_rules",
    "compile_rule",
    "load_rule_paths",
    "load_rule_text",
]
