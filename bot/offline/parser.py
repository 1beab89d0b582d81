"""Recognise statements and questions about a user's name and city.

The offline model is a deterministic stand-in for an LLM, so this parser is deliberately
conservative: a missed fact only costs a "I don't know yet", while an invented one would be
stored in the user's profile and repeated back to them. Every rule below therefore prefers to
return nothing over guessing.
"""

import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["ParsedMessage", "parse_message"]


@dataclass(frozen=True)
class ParsedMessage:
    """What one message says or asks about the user's name and city."""

    name: str | None = None  # a name the user stated about themselves
    city: str | None = None  # a city the user stated they live in / are from / moved to
    asks_name: bool = False  # the user asks what their name is / who they are
    asks_city: bool = False  # the user asks what their city is / where they live
    # "what do you know about me?" / "what do you remember about me" sets both asks_*.


_MAX_CHARS = 100
_MAX_WORDS = 6

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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that end a name: connectives, pronouns and chat noise that follow a name in practice.
_NAME_BREAK = _words(
    """and but or nor from who whom whose which that in at on to for with by as of living
    based originally currently i i'm im i've i'd i'll me my you your is was are am be so
    because cause since now then here there too also btw lol haha please pls plz thanks
    thank thx nice pleased what what's where how when why if not no yes ok okay the a an it
    it's this just actually anyway remember though again instead right yeah yep bro mate
    dude hi hello hey"""
)
# Words that can follow "I'm"/"call me" but are not names; seeing one first rejects the value.
_NAME_STOP = _NAME_BREAK | _words(
    """very fine good great sorry tired happy sad back going looking trying doing really
    quite pretty still always never sure glad new old done ready bored busy hungry sick well
    alright all afraid alive alone home out off up down over into about like without one
    someone nobody everyone anyone somebody everybody human person bot ai robot man woman
    guy girl boy kid student male female single married free available online offline late
    early curious confused lost stuck excited interested certain thinking wondering feeling
    having getting being coming leaving working aware wrong correct serious kidding joking
    cool awesome bad ill better worse best worst mad angry upset scared worried proud
    grateful thankful sleepy thirsty dying dead broke rich poor young tall short gone away
    today tonight later maybe tomorrow soon anytime whenever sometime whatever anything
    something crazy names english american british french german spanish italian portuguese
    brazilian canadian mexican chinese japanese korean indian irish scottish welsh dutch
    swiss swedish norwegian danish finnish polish russian ukrainian greek turkish
    australian european african asian muslim jewish catholic buddhist hindu atheist vegan
    vegetarian gay straight bi trans sir madam same welcome newbie lurker"""
)
_CITY_BREAK = _words(
    """and but or nor with since now where which who whom whose that because cause cuz so
    for to at in from near by i i'm im i've i'd me my you your is was are am be been these
    those this nowadays currently today tonight yesterday tomorrow recently lately ago
    though although however too also btw lol haha please thanks thank what what's how when
    while after before until till as it it's its then there here right actually anyway if
    yet still about hi hello hey not no yes ok okay nice just really very again originally
    born last years ever the a an"""
)
# Always rejected as the first word of a city: not places, whatever the capitalisation.
_CITY_STOP = _CITY_BREAK | _words(
    """home work school nowhere somewhere everywhere anywhere abroad overseas around
    outside inside earth space"""
)
# Rejected only when typed in lowercase: "I live in hope" is not a city, "Hope, BC" is.
_CITY_STOP_LOWER = _words(
    """town city hope fear peace harmony denial poverty luxury sin comfort misery love
    trouble bed pain charge shock doubt control danger luck heaven hell time class office
    line tears debt awe public private college university uni front favor favour touch
    contact agreement need support business power prison jail hospital church shape form
    position range place progress chat voice vc game lobby queue general fact"""
)
# Lowercase mid-value words that belong to names ("Rio de Janeiro", "Vincent van Gogh").
_PARTICLES = _words(
    """de da do dos das del della di du des la le las los of upon on sur sous en van von
    der den y e el al bin ibn"""
)
_TOKEN = re.compile(r"\S+")
_PHRASE_BREAKS = frozenset({"of course", "these days", "right now", "for now", "at the"})

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


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    value: str


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


def _find(
    clause: _Clause, triggers: tuple[_Trigger, ...], kind: str, strict_ok: bool
) -> list[_Hit]:
    hits: list[_Hit] = []
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
            if hit := _take_value(clause.text, m.start(), m.end(), kind, strict):
                hits.append(hit)
    return hits


def _continuation(clause: _Clause, pos: int, strict_ok: bool) -> list[_Hit]:
    m = _CONTINUATION.match(clause.text, pos)
    if not m:
        return []
    strict = m.group("in") is not None
    if strict and not strict_ok:
        return []
    hit = _take_value(clause.text, m.start(), m.end(), "city", strict)
    return [hit] if hit else []


def _here_intro(clause: _Clause, idx: int, clauses: list[_Clause], strict_ok: bool) -> _Hit | None:
    # "Ada here" introduces only at the start of a message (or right after "hey,"); elsewhere
    # "X here" is too often "same here" / "over here" to trust.
    if not strict_ok or clause.question or not clause.text.lower().endswith(" here"):
        return None
    if idx > 1 or (idx == 1 and clauses[0].text[clauses[0].body :].strip()):
        return None
    hit = _take_value(clause.text, clause.body, clause.body, "name", strict=True)
    if hit and clause.text[hit.end :].strip().lower() == "here":
        return hit
    return None


def _is_word(token: str) -> bool:
    # Letters (any script, with combining marks) joined by ' - or ., so "O'Brien", "Aix-en-
    # Provence" and "St." pass while digits, emoji and URLs end the value.
    if not token or not unicodedata.category(token[0]).startswith("L"):
        return False
    previous_sep = False
    for ch in token[1:]:
        if unicodedata.category(ch)[0] in "LM":
            previous_sep = False
        elif ch in "'-." and not previous_sep:
            previous_sep = True
        else:
            return False
    return not previous_sep or token.endswith(".")


def _take_value(text: str, start: int, pos: int, kind: str, strict: bool) -> _Hit | None:
    breaks = _NAME_BREAK if kind == "name" else _CITY_BREAK
    # A value is at most _MAX_WORDS words plus an article and a look-ahead; reading further
    # would make a long message quadratic in the number of "I'm"s it contains.
    matches = itertools.islice(_TOKEN.finditer(text, pos), _MAX_WORDS + 3)
    tokens = [(m.group().strip("\"'"), m.end() - pos) for m in matches]
    words: list[str] = []
    end = pos
    i = 0
    while i < len(tokens):
        word, token_end = tokens[i]
        low = word.lower()
        nxt = tokens[i + 1][0].lower() if i + 1 < len(tokens) else ""
        if kind == "city" and not words and low == "the":
            # "The Hague" keeps its article; a lowercase "the" is dropped but then the rest must
            # look like a proper noun, or "the countryside" would become a city.
            if word[0].isupper():
                words.append(word)
            else:
                strict = True
            end, i = pos + token_end, i + 1
            continue
        if not _is_word(word) or (kind == "name" and low.endswith("'s")):
            break
        if low in breaks or f"{low} {nxt}" in _PHRASE_BREAKS:
            break
        if strict and word[0].islower() and not (words and low in _PARTICLES):
            break
        if words and low in _PARTICLES and word[0].islower():
            # A particle only belongs to the value when a real word follows it.
            following = tokens[i + 1][0] if i + 1 < len(tokens) else ""
            if not _is_word(following) or following.lower() in breaks | _PARTICLES:
                break
            if strict and following[0].islower():
                break
        words.append(word)
        end, i = pos + token_end, i + 1
    return _validate(words, kind, strict, start, end)


def _validate(words: list[str], kind: str, strict: bool, start: int, end: int) -> _Hit | None:
    if not words or len(words) > _MAX_WORDS:
        return None
    # "The Hague": judge the place by the word after its article.
    head = words[1] if kind == "city" and words[0] == "The" and len(words) > 1 else words[0]
    first = head.lower()
    if kind == "name" and first in _NAME_STOP:
        return None
    # After "I'm in" the user capitalised anyway, so capitals cannot tell "Love" from a city.
    if kind == "city" and (
        first in _CITY_STOP or ((strict or head.islower()) and first in _CITY_STOP_LOWER)
    ):
        return None
    value = " ".join(_capitalise(w, n == 0) for n, w in enumerate(words))[:_MAX_CHARS].rstrip()
    if not value or value.isdigit() or re.search(r"\bmy\b", value, re.IGNORECASE):
        return None
    return _Hit(start, end, value)


def _capitalise(word: str, first: bool) -> str:
    # Only words typed entirely in lowercase are touched, so "McDonald" or "NYC" stay as typed.
    if any(ch.isupper() for ch in word):
        return word
    if not first and word in _PARTICLES:
        return word
    parts = word.split("-")
    out = []
    for n, part in enumerate(parts):
        if n > 0 and part in _PARTICLES:
            out.append(part)
            continue
        part = part[:1].upper() + part[1:]
        if len(part) > 2 and part[1] == "'":  # o'brien -> O'Brien, d'angelo -> D'Angelo
            part = part[:2] + part[2].upper() + part[3:]
        out.append(part)
    return "-".join(out)
