"""Which determinations go with which classification (Defender's pairs). Pure.

=============================  ==============================================================
classification                 determinations
=============================  ==============================================================
truePositive                   multiStagedAttack, maliciousUserActivity, compromisedAccount,
                               malware, phishing, unwantedSoftware, apt, other
informationalExpectedActivity  securityTesting, securityPersonnel, lineOfBusinessApplication,
                               confirmedActivity, other
falsePositive                  notMalicious, notEnoughDataToValidate, other
unknown                        unknown
=============================  ==============================================================
"""

from __future__ import annotations

from stockade.mtd.model import Classification, Determination

C, D = Classification, Determination

DETERMINATIONS: dict[Classification, frozenset[Determination]] = {
    C.TRUE_POSITIVE: frozenset(
        {
            D.MULTI_STAGED_ATTACK,
            D.MALICIOUS_USER_ACTIVITY,
            D.COMPROMISED_ACCOUNT,
            D.MALWARE,
            D.PHISHING,
            D.UNWANTED_SOFTWARE,
            D.APT,
            D.OTHER,
        }
    ),
    C.INFORMATIONAL_EXPECTED_ACTIVITY: frozenset(
        {
            D.SECURITY_TESTING,
            D.SECURITY_PERSONNEL,
            D.LINE_OF_BUSINESS_APPLICATION,
            D.CONFIRMED_ACTIVITY,
            D.OTHER,
        }
    ),
    C.FALSE_POSITIVE: frozenset({D.NOT_MALICIOUS, D.NOT_ENOUGH_DATA_TO_VALIDATE, D.OTHER}),
    C.UNKNOWN: frozenset({D.UNKNOWN}),
}


def triage_problem(
    classification: Classification | None, determination: Determination | None
) -> str | None:
    """Why this pair cannot stand together, or None when it can."""
    if determination is None:
        return None
    if classification is None:
        return "a determination needs a classification (set both)"
    allowed = DETERMINATIONS[classification]
    if determination not in allowed:
        names = ", ".join(sorted(d.value for d in allowed))
        return (
            f"determination {determination.value} does not go with classification "
            f"{classification.value}; use one of: {names}"
        )
    return None


def next_triage(
    current: tuple[Classification | None, Determination | None],
    classification: Classification | None,
    determination: Determination | None,
) -> tuple[Classification | None, Determination | None]:
    """The pair after a change that gives either or both (None: unchanged).

    A new classification that no longer fits the stored determination clears it, so a
    reclassified alert never keeps a determination of the old class.
    """
    new_class = classification if classification is not None else current[0]
    new_det = determination if determination is not None else current[1]
    if (
        determination is None
        and new_det is not None
        and new_class is not None
        and new_det not in DETERMINATIONS[new_class]
    ):
        new_det = None
    return new_class, new_det
