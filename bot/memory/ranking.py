"""How search results are ranked: what a query asks for, and the second, bounded stage that
orders the full-text index's candidates. No database here; `search.py` fetches.

Stage 1 (the index): each stored message is indexed with the two messages before it as
context columns (weights 1, 1/2, 1/4: context words count, at half weight per step back) and
ranked by BM25 over the query's words, OR-ed: stop words, the participants' names and an
explicit date left out, porter-stemmed. At most CANDIDATES come back.

Stage 2 (here), over the candidates and their neighbours (at most 7 × CANDIDATES rows):
  * neighbour smoothing: s(i) + Σ 2^-d · max(s(i-d), s(i+d)) for d = 1..3 (an answer often
    sits next to the message that names its topic);
  * who it is about: when the query names one participant (or both, not joined by "and" /
    "or": then the first named, English being subject-first), the other's messages count half;
  * an explicit date ("on 9 July, 2022", "in May 2023", "in 2021"): messages from 3 days
    before to 14 days after it count double (events are talked about soon after they happen);
  * "when / how long / what year …" questions: messages holding a time expression count
    double (what such questions are answered by);
  * a length prior, × ln(1 + words): longer messages carry more facts, and BM25 favours
    short ones.
The factors are 1/2 and 2, a date window and BM25's usual k1 = 1.2, b = 0.75: generic, not
fitted to any evaluation (the recall benchmark's conversations were never used to choose them,
and it also measures conversations it was not developed on). `rank` is the one place that
orders results, so another ranker (embeddings from the model server) can join it here.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

CANDIDATES = 200  # the index's top-N handed to stage 2
CONTEXT_WEIGHTS = (1.0, 0.5, 0.25)  # BM25 weights of a message, the one before, the one before that
KERNEL = (0.5, 0.25, 0.125)  # neighbour weights at distance 1, 2, 3
OTHER_SPEAKER = 0.5
DATE_BOOST = 2.0
DATE_BEFORE_DAYS, DATE_AFTER_DAYS = 3, 14
WHEN_BOOST = 2.0

# A generic English stop-word list: function words, auxiliaries, pronouns and question words.
STOP_WORDS = frozenset(
    """
a about above after again against all am an and any are aren as at be because been before being
below between both but by can cannot could couldn did didn do does doesn doing don down during
each few for from further had hadn has hasn have haven having he her here hers herself him
himself his how i if in into is isn it its itself just let me more most mustn my myself no nor
not now of off on once only or other ought our ours ourselves out over own same shan she should
shouldn so some such than that the their theirs them themselves then there these they this those
through to too under until up very was wasn we were weren what when where which while who whom
whose why will with won would wouldn you your yours yourself yourselves s t d ll m re ve y also
ever
""".split()
)
WORD = re.compile(r"\w+")

# What makes a message hold a time expression: a time word, a year, a month or weekday, or a
# count or "last / next / every …" before a unit of time ("two years", "last week").
_TIME_WORDS = frozenset(
    "yesterday today tonight tomorrow ago recently lately earlier soon weekend january "
    "february march april june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday".split()
)
_UNITS = frozenset(
    "second minute hour day night week weekend month year decade morning afternoon evening "
    "summer winter spring fall autumn monday tuesday wednesday thursday friday saturday "
    "sunday".split()
)
_BEFORE_UNIT = frozenset(
    "last next this past previous coming every each a an one two three four five six seven "
    "eight nine ten eleven twelve few several".split()
)
_FILLER = frozenset({"few", "couple", "of"})
_WHEN_QUESTION = re.compile(
    r"^\s*when\b|\bwhen (?:did|was|were|is|are|will|does|do|has|had)\b|"
    r"\b(?:what|which) (?:year|month|date|day|time|week)\b|\bhow long\b|\bhow often\b",
    re.IGNORECASE,
)

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_MONTH = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
)
_DAY, _YEAR = r"(\d{1,2})(?:st|nd|rd|th)?", r"((?:19|20)\d\d)"
_DATES = (
    (re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\.?,?\s+{_YEAR}\b", re.IGNORECASE), "dmy"),
    (re.compile(rf"\b{_MONTH}\.?\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE), "mdy"),
    (re.compile(rf"\b{_MONTH}\.?,?\s+(?:of\s+)?{_YEAR}\b", re.IGNORECASE), "my"),
    (re.compile(rf"\b(?:in|during|of|since|by|before|after)\s+{_YEAR}\b", re.IGNORECASE), "y"),
)
_LOG1P = [math.log1p(n) for n in range(512)]


def word_count(text: str) -> int:
    return len(WORD.findall(text))


def has_time(text: str) -> bool:
    """Whether a message holds a time expression ("yesterday", "last week", "in 2022")."""
    words = WORD.findall(text.casefold())
    if _TIME_WORDS.intersection(words):
        return True
    for n, word in enumerate(words):
        if len(word) == 4 and word[:2] in ("19", "20") and word.isdigit():
            return True
        if word in _BEFORE_UNIT or word.isdigit():
            following = words[n + 1 : n + 4]
            while following and following[0] in _FILLER:
                following = following[1:]
            if following and following[0].removesuffix("s") in _UNITS:
                return True
    return False


@dataclass(frozen=True)
class DateSpan:
    """An explicit calendar date in a query: the days it covers, and where it was written."""

    first: date
    last: date
    start: int
    end: int


def find_date(query: str) -> DateSpan | None:
    """The first explicit date in `query`. A bare month ("in May") is not one: it has no
    year, and "may" is also a verb."""
    for pattern, kind in _DATES:
        found = pattern.search(query)
        if not found:
            continue
        g = found.groups()
        try:
            if kind == "dmy":
                first = last = date(int(g[2]), _MONTHS[g[1].lower()], int(g[0]))
            elif kind == "mdy":
                first = last = date(int(g[2]), _MONTHS[g[0].lower()], int(g[1]))
            elif kind == "my":
                year, month = int(g[1]), _MONTHS[g[0].lower()]
                first = date(year, month, 1)
                last = date(year, month, calendar.monthrange(year, month)[1])
            else:
                first, last = date(int(g[0]), 1, 1), date(int(g[0]), 12, 31)
        except (ValueError, KeyError):
            continue
        return DateSpan(first, last, *found.span())
    return None


@dataclass(frozen=True)
class Query:
    """What a search asks: its words (for the index), who it is about, and its date cues."""

    terms: list[str]
    subject: str | None  # "user" | "assistant": the participant the query is about
    when: DateSpan | None
    wants_time: bool


def _terms(text: str, drop: set[str]) -> list[str]:
    terms: list[str] = []
    for word in WORD.findall(text.casefold()):
        if word not in STOP_WORDS and word not in drop and word not in terms:
            terms.append(word)
    return terms


def _subject(query: str, names: Mapping[str, str]) -> str | None:
    lowered = query.casefold()
    found = {}
    for role, name in names.items():
        at = re.search(rf"\b{re.escape(name.casefold())}\b", lowered)
        if at:
            found[role] = at.start()
    if len(found) == 1:
        return next(iter(found))
    if len(found) == 2:
        (first, p1), (_, p2) = sorted(found.items(), key=lambda pair: pair[1])
        if not re.search(r"\b(?:and|or)\b|&", lowered[p1:p2]):
            return first
    return None


def analyse(query: str, names: Mapping[str, str]) -> Query:
    """The query's parts. `names` maps a role ("user", "assistant") to that participant's
    name, where known: a name says who the query is about, and is no help in finding text."""
    when = find_date(query)
    text = query if when is None else query[: when.start] + " " + query[when.end :]
    name_words = {w for name in names.values() for w in WORD.findall(name.casefold())}
    terms = _terms(text, name_words) or _terms(query, set()) or WORD.findall(query.casefold())
    return Query(terms[:32], _subject(query, names), when, _WHEN_QUESTION.search(query) is not None)


@dataclass(frozen=True)
class Row:
    """What stage 2 knows of an indexed message: its position in the person's history (its
    neighbours are the positions beside it), who said it, when, and its shape."""

    position: int
    role: str
    said_on: str  # the UTC day it was said, "2023-05-08" (compared as text: cheap)
    words: int
    has_time: bool


def rank(query: Query, scores: Mapping[int, float], rows: Sequence[Row], limit: int) -> list[int]:
    """Positions of the best `limit` messages, best first. `scores` are the index's (higher
    is better) for the candidates; `rows` are the candidates and their neighbours."""
    get = scores.get
    k1, k2, k3 = KERNEL
    subject, when, wants_time = query.subject, query.when, query.wants_time
    if when is not None:
        low = (when.first - timedelta(days=DATE_BEFORE_DAYS)).isoformat()
        high = (when.last + timedelta(days=DATE_AFTER_DAYS)).isoformat()
    log1p, longest = _LOG1P, len(_LOG1P)
    ranked = []
    for row in rows:
        at = row.position
        a, b = get(at - 1, 0.0), get(at + 1, 0.0)
        c, d = get(at - 2, 0.0), get(at + 2, 0.0)
        e, f = get(at - 3, 0.0), get(at + 3, 0.0)
        value = (
            get(at, 0.0)
            + k1 * (a if a > b else b)
            + k2 * (c if c > d else d)
            + k3 * (e if e > f else f)
        )
        if value <= 0.0:
            continue
        if subject is not None and row.role != subject:
            value *= OTHER_SPEAKER
        if when is not None and low <= row.said_on <= high:
            value *= DATE_BOOST
        if wants_time and row.has_time:
            value *= WHEN_BOOST
        value *= log1p[row.words] if row.words < longest else math.log1p(row.words)
        ranked.append((value, at))  # ties: the newer message first
    ranked.sort(reverse=True)
    return [at for _, at in ranked[:limit]]


def neighbours(positions: Sequence[int], first: int, last: int) -> list[int]:
    """The candidates' positions and their neighbours within [first, last]."""
    width = len(KERNEL)
    wanted = {p + d for p in positions for d in range(-width, width + 1)}
    return sorted(p for p in wanted if first <= p <= last)
