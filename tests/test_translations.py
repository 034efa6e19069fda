"""Chinese first: every message in the catalogue is translated, and the compiled catalogue that ships (fresh
machines have no gettext tools to compile it) matches the source."""

import gettext
import json
import re

from tests.conftest import ROOT

CATALOG = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
PO = CATALOG / "django.po"


def read_po() -> dict[tuple[str | None, str], str]:
    """{(msgctxt or None, msgid): msgstr}: the same msgid may stand in two contexts with two translations."""
    entries = {}
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        match = re.search(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', block, re.M)
        if match:
            msgid, msgstr = (
                "".join(map(json.loads, re.findall(r'"(?:[^"\\]|\\.)*"', part))) for part in match.groups()
            )
            context = re.search(r'^msgctxt "(.*)"$', block, re.M)
            if msgid:
                entries[(context.group(1) if context else None, msgid)] = msgstr
    return entries


def test_every_message_has_a_chinese_translation():
    untranslated = [msgid for (_context, msgid), msgstr in read_po().items() if not msgstr]
    untranslated_plurals = re.findall(r'^msgid "(.*)"\nmsgid_plural .*\nmsgstr\[0\] ""$', PO.read_text(), re.M)

    assert untranslated == []
    assert untranslated_plurals == []
    assert "#, fuzzy" not in PO.read_text()  # msgfmt leaves fuzzy guesses out of the compiled catalogue


def test_compiled_catalogue_matches_the_source():
    with (CATALOG / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)

    source = read_po()
    assert len(source) > 20
    mismatched = {
        msgid
        for (context, msgid), msgstr in source.items()
        if (compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)) != msgstr
    }
    assert mismatched == set()
