"""Recognise statements and questions about a user's name and city.

The offline model is a deterministic stand-in for an LLM, so this parser is deliberately
conservative: a missed fact only costs a "I don't know yet", while an invented one would be
stored in the user's profile and repeated back to them. Every rule below therefore prefers to
return nothing over guessing.
"""

import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from .values import Hit, take_value

__all__ = ["ParsedMessage", "parse_message"]


@dataclass(frozen=True)
class ParsedMessage:
    """What one message says or asks about the user's name and city."""

    name: str | None = None  # a name the user stated about themselves
    city: str | None = None  # a city the user stated they live in / are from / moved to
    asks_name: bool = False  # the user asks what their name is / who they are
    asks_city: bool = False  # the user asks what their city is / where they live
    # "what do you know about me?" / "what do you remember about me" sets both asks_*.


# Phones and chat clients type curly quotes; folding them lets one set of patterns serve both.
_FOLD = str.maketrans("\u2019\u2018\u02bc\u2032`\u201c\u201d\u201e\u00ab\u00bb", "'''''\"\"\"\"\"")

# A "." after these does not end a sentence, so "St. Louis" survives as one city.
_ABBREVIATIONS = frozenset({"st", "ste", "mt", "ft", "pt", "dr", "mr", "mrs", "ms", "jr", "sr"})
_SENTENCE_END = re.compile(r"[!?;\n\u2026]+[.!?;\s]*|\.+(?=[\s!?;]|$)[.!?;\s]*")
# Chat skips commas, so a question often starts mid-sentence: "I'm Ada how are you?", "I'm
# Ada and where do I live?", "I live in Porto and you?". Cutting there keeps the "?" from
# turning the statement before it into a question.
_CLAUSE_BREAK = re.compile(
    r"[,:()\[\]{}\u2014\u2013]|\s-\s"
    r"|\s(?=(?:what|what's|whats|where|who|which|how|why)\b)"
    r"|\b(?:and|but|so|also|then|or)\s+(?=(?:when|do|does|did|can|could|would|will|is|are"
    r"|am)\b)"
    r"|\s(?:and|&)\s+(?=(?:you|u|yourself|yours)\s*$)",
    re.IGNORECASE,
)
_FILLERS = re.compile(
    r"(?:(?:hi|hey|hello|hiya|heya|yo|ok|okay|so|well|um|uh|oh|and|but|also|btw|anyway"
    r"|actually|hmm|please|lol|haha|sorry|alright|there|bot)\b\s*)*",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"(?:what|what's|whats|where|where's|wheres|who|who's|whom|whose|which|when|why|how"
    r"|do|does|did|is|are|am|was|were|can|could|would|will|should|shall|have|has|may|might"
    r"|isn't|aren't|don't|doesn't|didn't|wasn't)\b",
    re.IGNORECASE,
)
_RELATIVE_WORDS = frozenset({"who", "whom", "whose", "which", "when"})
# "I don't know where I live": a wh-word followed by its subject is embedded, not asked.
_EMBEDDED = re.compile(
    r"(?:what|where|who|which|how|why|when)\s+(?:i|i'm|you|he|she|they|we|it)\b", re.IGNORECASE
)
# "Can you call me Ada?" is phrased as a question but is a request to store the name.
_REQUEST_START = re.compile(
    r"(?:can|could|would|will)\s+you\s+(?:please\s+|just\s+)?(?:call\s+me|remember|note|save"
    r"|store|keep\s+in\s+mind)\b",
    re.IGNORECASE,
)
# Only the words since the last conjunction qualify a statement, so in "I'm not Ada and I
# live in Paris" the "not" does not cancel the city.
_CONJUNCTION = re.compile(r"\b(?:and|but|so|because|although|though|while|also)\b", re.IGNORECASE)
_NEGATED = re.compile(
    r"(?:\b(?:not|never|no|nor|cannot|if|unless|whether|pretend|imagine|suppose|wish)\b"
    r"|n't\b)",
    re.IGNORECASE,
)

_I_AM = r"(?:i'm|im|i\s+am)"
_ADVERBS = r"(?:(?:currently|now|still|actually|originally|also|just|recently|finally|really)\s+)"


class _Trigger(NamedTuple):
    pattern: re.Pattern[str]
    strict: bool  # the value must be capitalised by the user
    anchored: bool  # only counts at the start of a clause


def _trigger(pattern: str, *, strict: bool = False, anchored: bool = False) -> _Trigger:
    return _Trigger(re.compile(pattern, re.IGNORECASE), strict, anchored)


# Strict: after "I'm" a lowercase word is almost always an adjective ("I'm tired"), never a
# name. Anchored: "name's Ada" only at a clause start, where it cannot be someone else's name.
_NAME_TRIGGERS = (
    _trigger(r"\bmy\s+(?:(?:first|full|real|actual|preferred|given)\s+)?name(?:'s|\s+is)\s+"),
    _trigger(r"(?:the\s+)?name(?:'s|\s+is)\s+", anchored=True),
    _trigger(r"\bcall\s+me\s+"),
    _trigger(r"\b(?:everyone|everybody|people)\s+calls\s+me\s+"),
    _trigger(rf"\b{_I_AM}\s+(?:called|named)\s+"),
    _trigger(r"\bi\s+go\s+by\s+(?:the\s+name\s+(?:of\s+)?)?", strict=True),
    _trigger(rf"\b{_I_AM}\s+", strict=True),
)
_CITY_TRIGGERS = (
    _trigger(rf"\bi\s+{_ADVERBS}{{0,2}}(?:live|reside)\s+in\s+"),
    _trigger(
        rf"\b{_I_AM}\s+{_ADVERBS}{{0,2}}(?:living|based|located|residing)\s+(?:in|out\s+of)\s+"
    ),
    _trigger(rf"\b{_I_AM}\s+{_ADVERBS}{{0,2}}from\s+"),
    _trigger(rf"\bi\s+{_ADVERBS}{{0,2}}(?:come|hail)\s+from\s+"),
    _trigger(rf"\bi(?:'ve|\s+have)?\s+{_ADVERBS}{{0,2}}(?:moved|relocated)\s+(?:back\s+)?to\s+"),
    _trigger(r"\bmy\s+(?:current\s+|home\s+)?(?:city|home\s*town)(?:'s|\s+is)\s+"),
    # "I'm in Lisbon" is a place only when capitalised: "I'm in trouble" is not.
    _trigger(rf"\b{_I_AM}\s+in\s+", strict=True),
)
# After a stated name, a bare "from X" gives the city: "I'm Ada from Lisbon". Group "in"
# marks the ambiguous bare "in", which gets the strict (capitalised) treatment.
_CONTINUATION = re.compile(
    r"\s*(?:and\s+)?(?:(?:who\s+lives?|living|based|located|live)\s+(?:in|out\s+of)\s+"
    r"|(?:who(?:'s|\s+is)\s+|originally\s+)?from\s+|(?P<in>in)\s+)",
    re.IGNORECASE,
)


# Strong question forms count wherever they appear. "is my name Ada?" and "do I live in
# Paris?" are left to the question-clause rule, so "this is my name" asks nothing.
_ASK_NAME = tuple(
    re.compile(p)
    for p in (
        r"\bwhat(?:'s|s|\s+is|\s+was)\s+my\s+(?:(?:first|full|real)\s+)?name\b",
        r"\bwho\s+am\s+i\b(?!\s+(?:talking|speaking|chatting|to|with)\b)",
        r"\b(?:do|did|can|could)\s+you\s+(?:still\s+)?(?:know|remember|recall)\s+"
        r"(?:my\s+name|who\s+i\s+am)\b",
        r"\bwhat\s+(?:do|did|will|would|should)\s+you\s+call\s+me\b",
        r"\b(?:tell|remind)\s+me\s+(?:of\s+)?(?:what\s+)?my\s+name\b",
        r"\bwhat\s+am\s+i\s+called\b",
    )
)
_ASK_CITY = tuple(
    re.compile(p)
    for p in (
        r"\bwhat(?:'s|s|\s+is|\s+was)\s+my\s+(?:current\s+|home\s+)?(?:city|home\s*town)\b",
        r"\bwhere\s+(?:do|did)\s+i\s+(?:live|come\s+from|reside|move)\b",
        r"\bwhere\s+am\s+i(?:\s+(?:from|based|living|located|now))?\s*(?:[?.!,;]|$)",
        r"\b(?:which|what)\s+(?:city|town)\s+(?:do|did)\s+i\s+(?:live|come\s+from|move)\b",
        r"\b(?:which|what)\s+(?:city|town)\s+am\s+i\s+(?:from|in|living|based)\b",
        r"\b(?:do|did|can|could)\s+you\s+(?:still\s+)?(?:know|remember|recall)\s+"
        r"(?:where\s+i\s+(?:live|'m\s+from|am\s+from|come\s+from)|my\s+(?:city|home\s*town))",
        r"\b(?:tell|remind)\s+me\s+(?:of\s+)?(?:where\s+i\s+live|my\s+city)\b",
        r"\bam\s+i\s+from\b",
    )
)
# "What do you know about me?" is matched as an ordered sequence of three words rather than
# one regex with two lazy gaps, which backtracks quadratically or worse on long messages.
_ASK_BOTH_LEAD = re.compile(r"\b(?:what|everything|anything|something)\b")
_ASK_BOTH_VERB = re.compile(
    r"\b(?:know|remember|recall|store[sd]?|save[sd]?|learn(?:ed|t)|kept|keep|have|got)\b"
)
_ASK_BOTH_TAIL = re.compile(r"\b(?:about|on)\s+me\b")
_ASK_ANYTHING = re.compile(
    r"\b(?:do|did)\s+you\s+(?:know|remember)\s+(?:anything|something)\s+about\s+me\b"
)
# Weak forms ("my name?", "my name and city?") count only inside a question clause.
_WEAK_NAME = re.compile(
    r"\bmy\s+(?:\w+\s+and\s+)?(?:(?:first|full|real)\s+)?name\b|\bwho\s+i\s+am\b"
)
_WEAK_CITY = re.compile(
    r"\bmy\s+(?:\w+\s+and\s+)?(?:city|home\s*town)\b"
    r"|\bwhere\s+i\s+(?:live|'m\s+from|am\s+from|come\s+from)\b"
)


@dataclass(frozen=True)
class _Clause:
    text: str  # original case, curly quotes folded
    body: int  # index just after leading greetings/fillers
    question: bool
    sentence: int


def parse_message(text: str) -> ParsedMessage:
    """Parse one chat message into the name/city facts it states and the ones it asks for."""
    norm = re.sub(r"[^\S\n]+", " ", unicodedata.normalize("NFC", text or "").translate(_FOLD))
    # In an all-caps message capitalisation says nothing, so "I'M TIRED" must not be a name.
    strict_ok = any(ch.islower() for ch in norm)
    clauses = _split(norm)

    names: list[tuple[int, int, str]] = []  # (clause index, position, value); last one wins
    cities: list[tuple[int, int, str]] = []
    lowered = norm.lower()
    asks_name = any(p.search(lowered) for p in _ASK_NAME)
    asks_city = any(p.search(lowered) for p in _ASK_CITY)
    if _asks_everything(lowered):
        asks_name = asks_city = True

    name_closed_sentence: int | None = None  # a name ended the previous clause of this sentence
    for idx, clause in enumerate(clauses):
        found_names = _find(clause, _NAME_TRIGGERS, "name", strict_ok)
        if here := _here_intro(clause, idx, clauses, strict_ok):
            found_names.append(here)
        found_cities = _find(clause, _CITY_TRIGGERS, "city", strict_ok)
        for hit in found_names:
            found_cities.extend(_continuation(clause, hit.end, strict_ok))
        if name_closed_sentence == clause.sentence:  # "I'm Ada, from Lisbon"
            found_cities.extend(_continuation(clause, clause.body, strict_ok))

        name_closed_sentence = None
        if clause.question:
            # A fact inside a question ("is my name Ada?", "do I live in Paris?") is being
            # checked, not told: answer it, never store it.
            asks_name |= bool(found_names) or bool(_WEAK_NAME.search(clause.text.lower()))
            asks_city |= bool(found_cities) or bool(_WEAK_CITY.search(clause.text.lower()))
            continue
        names.extend((idx, h.start, h.value) for h in found_names)
        cities.extend((idx, h.start, h.value) for h in found_cities)
        if any(not clause.text[h.end :].strip() for h in found_names):
            name_closed_sentence = clause.sentence

    return ParsedMessage(
        name=max(names)[2] if names else None,
        city=max(cities)[2] if cities else None,
        asks_name=asks_name,
        asks_city=asks_city,
    )


def _asks_everything(lowered: str) -> bool:
    if _ASK_ANYTHING.search(lowered):
        return True
    for sentence in re.split(r"[?.!\n]", lowered):
        # Earliest lead, then earliest verb after it, leaves the most room for "about me".
        lead = _ASK_BOTH_LEAD.search(sentence)
        verb = lead and _ASK_BOTH_VERB.search(sentence, lead.end())
        if verb and _ASK_BOTH_TAIL.search(sentence, verb.end()):
            return True
    return False


def _split(text: str) -> list[_Clause]:
    sentences: list[tuple[str, bool]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        chunk = text[start : m.start()]
        words = text[max(start, m.start() - 8) : m.start()].split()
        if m.group().strip() == "." and words and words[-1].lower() in _ABBREVIATIONS:
            continue
        sentences.append((chunk, "?" in m.group()))
        start = m.end()
    sentences.append((text[start:], False))

    clauses: list[_Clause] = []
    for number, (sentence, ends_with_question) in enumerate(sentences):
        parts = [p for p in _CLAUSE_BREAK.split(sentence) if p and p.strip()]
        for position, raw in enumerate(parts):
            part = raw.strip()
            body = _FILLERS.match(part).end()
            rest = part[body:]
            starter = _QUESTION_START.match(rest)
            # After a comma, "who"/"which"/"when" usually open a relative clause ("I'm Ada,
            # who lives in Lisbon"), so only a final "?" makes them a question there.
            if position > 0 and (
                (starter and starter.group().lower() in _RELATIVE_WORDS) or _EMBEDDED.match(rest)
            ):
                starter = None
            question = bool(starter) and not _REQUEST_START.match(rest)
            if ends_with_question and position == len(parts) - 1:
                question = question or not _REQUEST_START.match(rest)
            clauses.append(_Clause(part, body, question, number))
    return clauses


def _find(clause: _Clause, triggers: tuple[_Trigger, ...], kind: str, strict_ok: bool) -> list[Hit]:
    hits: list[Hit] = []
    for pattern, strict, anchored in triggers:
        if strict and not strict_ok:
            continue
        if anchored:
            m = pattern.match(clause.text, clause.body)
            matches = [m] if m else []
        else:
            matches = list(pattern.finditer(clause.text))
        for m in matches:
            # Bounded look-back keeps long messages linear; a negation is always close by.
            prefix = _CONJUNCTION.split(clause.text[max(0, m.start() - 60) : m.start()])[-1]
            if _NEGATED.search(prefix):
                continue
            if hit := take_value(clause.text, m.start(), m.end(), kind, strict):
                hits.append(hit)
    return hits


def _continuation(clause: _Clause, pos: int, strict_ok: bool) -> list[Hit]:
    m = _CONTINUATION.match(clause.text, pos)
    if not m:
        return []
    strict = m.group("in") is not None
    if strict and not strict_ok:
        return []
    hit = take_value(clause.text, m.start(), m.end(), "city", strict)
    return [hit] if hit else []


def _here_intro(clause: _Clause, idx: int, clauses: list[_Clause], strict_ok: bool) -> Hit | None:
    # "Ada here" introduces only at the start of a message (or right after "hey,"); elsewhere
    # "X here" is too often "same here" / "over here" to trust.
    if not strict_ok or clause.question or not clause.text.lower().endswith(" here"):
        return None
    if idx > 1 or (idx == 1 and clauses[0].text[clauses[0].body :].strip()):
        return None
    hit = take_value(clause.text, clause.body, clause.body, "name", strict=True)
    if hit and clause.text[hit.end :].strip().lower() == "here":
        return hit
    return None
