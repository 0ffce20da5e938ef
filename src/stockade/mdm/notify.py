"""Noncompliance e-mail: pick the template message and fill in its tokens. Pure.

Tokens follow Intune's notification templates: `{{UserName}}`, `{{DeviceName}}`,
`{{DeviceId}}`, `{{OSAndVersion}}`, plus `{{PolicyName}}` and `{{Reasons}}` (the failing
settings). Unknown tokens are left as written, so a typo shows in the mail instead of vanishing.
"""

from __future__ import annotations

import re

from stockade.mdm.model import NotificationTemplate

DEFAULT_SUBJECT = "{{DeviceName}} does not meet your organization's compliance policy"
DEFAULT_BODY = (
    "Hello {{UserName}},\n\n"
    "Your device {{DeviceName}} ({{OSAndVersion}}) does not meet the compliance policy "
    "{{PolicyName}}:\n{{Reasons}}\n\n"
    "Until it does, it may lose access to corporate apps. Fix the settings above, then sync "
    "the device.\n"
)
_TOKEN = re.compile(r"\{\{(\w+)\}\}")


def render(text: str, values: dict[str, str]) -> str:
    return _TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def notification(
    template: NotificationTemplate | None, values: dict[str, str], locale: str | None = None
) -> tuple[str, str]:
    """(subject, body) from the template's message for `locale`, else its default message."""
    subject, body = DEFAULT_SUBJECT, DEFAULT_BODY
    if template is not None and template.messages:
        wanted = locale or template.default_locale
        chosen = (
            next((m for m in template.messages if m.locale.lower() == wanted.lower()), None)
            or next((m for m in template.messages if m.is_default), None)
            or template.messages[0]
        )
        subject, body = chosen.subject, chosen.message_template
    return render(subject, values), render(body, values)
