"""What a stated name or city may look like, for the offline model's parser: the words that
end a value or rule it out, and reading a value from the text after a trigger ("I'm …",
"I live in …"). As in `parser.py`, a doubtful value is rejected rather than guessed."""

import itertools
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Hit", "take_value"]

_MAX_CHARS = 100
_MAX_WORDS = 6


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


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    value: str


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


def take_value(text: str, start: int, pos: int, kind: str, strict: bool) -> Hit | None:
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


def _validate(words: list[str], kind: str, strict: bool, start: int, end: int) -> Hit | None:
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
    return Hit(start, end, value)


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
