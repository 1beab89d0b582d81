"""Tests for the offline model's name/city intent parser.

Statement tests compare the whole ``ParsedMessage`` value, so a parser that also invented a question
(or a second fact) fails as surely as one that missed the fact.
"""

import dataclasses
import time

import pytest

from bot.offline.parser import ParsedMessage, parse_message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm Ada from Lisbon", ParsedMessage(name="Ada", city="Lisbon")),
        ("my name is Ada and I live in Lisbon", ParsedMessage(name="Ada", city="Lisbon")),
        ("call me Ada", ParsedMessage(name="Ada")),
        ("I moved to São Paulo", ParsedMessage(city="São Paulo")),
        ("I'm Ada, I live in Paris", ParsedMessage(name="Ada", city="Paris")),
        ("I'm Ada, what's my city?", ParsedMessage(name="Ada", asks_city=True)),
    ],
)
def test_examples_from_the_brief(text: str, expected: ParsedMessage) -> None:
    assert parse_message(text) == expected


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my name is Ada", "Ada"),
        ("My name is Ada.", "Ada"),
        ("MY NAME IS Ada", "Ada"),
        ("I'm Ada", "Ada"),
        ("I\u2019m Ada", "Ada"),  # curly apostrophe from a phone keyboard
        ("I am Ada", "Ada"),
        ("Hi! I'm Ada!", "Ada"),
        ("call me Ada", "Ada"),
        ("you can call me Ada please", "Ada"),
        ("name's Ada", "Ada"),
        ("Name\u2019s Ada", "Ada"),
        ("my name's Ada", "Ada"),
        ("my name\u2019s Ada", "Ada"),
        ("Ada here", "Ada"),
        ("hey, Ada here", "Ada"),
        ("I go by Ada", "Ada"),
        ("I am called Ada", "Ada"),
        ("everyone calls me Ada", "Ada"),
        ("can you call me Ada?", "Ada"),  # a request, not a question
        ("my name is Ada Lovelace", "Ada Lovelace"),
        ("I'm Ada Lovelace", "Ada Lovelace"),
        ("call me Mary Jane", "Mary Jane"),
        ("I'm José", "José"),
        ("my name is Zoë", "Zoë"),
        ("I'm Jose\u0301", "José"),  # decomposed accent is normalised to one character
        ("I'm 李雷", "李雷"),  # scripts without case count as capitalised
        ("I'm Ada de Souza", "Ada de Souza"),
        ('call me "Ada"', "Ada"),
        ("call me \u201cAda\u201d", "Ada"),
        ("  my   name   is   Ada  ", "Ada"),
    ],
)
def test_name_statements(text: str, name: str) -> None:
    assert parse_message(text) == ParsedMessage(name=name)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my name is ada", "Ada"),
        ("my name is ada lovelace", "Ada Lovelace"),
        ("call me mary jane", "Mary Jane"),
        ("my name is ludwig van beethoven", "Ludwig van Beethoven"),
        ("call me o'brien", "O'Brien"),
        ("my name is ADA", "ADA"),  # what the user typed in capitals is kept
        ("call me McKenzie", "McKenzie"),
    ],
)
def test_loose_name_forms_accept_lowercase_and_capitalise(text: str, name: str) -> None:
    assert parse_message(text).name == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I'm Ada and I love cats", "Ada"),
        ("my name is Ada but I hate my name", "Ada"),
        ("I'm Ada who likes tea", "Ada"),
        ("I'm Ada lol", "Ada"),
        ("my name is ada lovelace nice to meet you", "Ada Lovelace"),
        ("I'm Ada; nice to meet you", "Ada"),
        ("call me Ada!", "Ada"),
        ("I'm Ada? no wait, I'm Bea", "Bea"),
        ("my name is Ada but call me Bob", "Bob"),  # the later statement wins
    ],
)
def test_name_stops_at_punctuation_and_connecting_words(text: str, name: str) -> None:
    assert parse_message(text).name == name


@pytest.mark.parametrize(
    "text",
    [
        "I'm tired",
        "I'm from Lisbon",
        "I'm fine",
        "I'm going home",
        "I'm not sure",
        "I'm a developer",
        "I'm 30",
        "I'm in Lisbon",
        "I am so happy",
        "i'm ada",  # "I'm" needs a capitalised name; lowercase reads as an adjective
        "I'm Sorry",
        "I'm Back",
        "I'm English",
        "I'M TIRED",  # all caps says nothing about proper nouns
        "I'm Ada's mom",
        "I'm living in Berlin",
        "I'm based in Berlin",
        "Same here",
        "call me later",
        "call me maybe",
        "call me when you can",
        "everyone calls me names",
        "his name is Bob",
        "my friend's name is Bob",
        "my name is 42",
        "call me 007",
        "my name is",
        "",
        "   ",
        "\U0001f642",
        "hello there",
    ],
)
def test_no_name_is_invented(text: str) -> None:
    assert parse_message(text).name is None


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("I live in Lisbon", "Lisbon"),
        ("I\u2019m from Lisbon", "Lisbon"),
        ("I'm from Lisbon", "Lisbon"),
        ("I am from Lisbon", "Lisbon"),
        ("I moved to São Paulo", "São Paulo"),
        ("I've moved to Berlin", "Berlin"),
        ("I just moved to Berlin", "Berlin"),
        ("I'm living in New York", "New York"),
        ("I'm based in Berlin", "Berlin"),
        ("my city is Porto", "Porto"),
        ("my hometown is Braga", "Braga"),
        ("I'm in Lisbon", "Lisbon"),
        ("I'm originally from Porto", "Porto"),
        ("I come from Lisbon", "Lisbon"),
        ("I currently live in Lisbon", "Lisbon"),
        ("I live in Rio de Janeiro", "Rio de Janeiro"),
        ("I live in Los Angeles", "Los Angeles"),
        ("I live in St. Louis", "St. Louis"),
        ("I live in The Hague", "The Hague"),
        ("I live in the Bronx", "Bronx"),
        ("I live in NYC", "NYC"),
        ("I live in Lisbon.", "Lisbon"),
        ("I live in 'Lisbon'", "Lisbon"),
    ],
)
def test_city_statements(text: str, city: str) -> None:
    assert parse_message(text) == ParsedMessage(city=city)


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("I live in Lisbon now", "Lisbon"),
        ("I live in Lisbon these days", "Lisbon"),
        ("I live in new york now", "New York"),
        ("I live in Lisbon and I love it", "Lisbon"),
        ("I live in Lisbon but I work in Porto", "Lisbon"),
        ("I live in Los Angeles with my wife", "Los Angeles"),
        ("I moved to Lisbon since it's sunny", "Lisbon"),
        ("I moved to Lisbon from Paris last year", "Lisbon"),
        ("I live in Lisbon where it rains", "Lisbon"),
        ("I live in Lisbon, Portugal", "Lisbon"),
        ("I'm from Lisbon originally", "Lisbon"),
        ("I moved to Lisbon of course", "Lisbon"),
        ("I live in Paris 75001", "Paris"),
    ],
)
def test_city_stops_at_connecting_words_and_strips_now(text: str, city: str) -> None:
    assert parse_message(text).city == city


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("i live in lisbon", "Lisbon"),
        ("i'm from são paulo", "São Paulo"),
        ("i live in rio de janeiro", "Rio de Janeiro"),
        ("i live in los angeles", "Los Angeles"),
        ("i moved to aix-en-provence", "Aix-en-Provence"),
        ("i live in isle of man", "Isle of Man"),
    ],
)
def test_lowercase_cities_are_capitalised_but_particles_stay_lowercase(
    text: str, city: str
) -> None:
    assert parse_message(text).city == city


@pytest.mark.parametrize(
    "text",
    [
        "I live in the countryside",
        "I live in a small town",
        "I live in hope",
        "I'm from the future",
        "I'm from here",
        "I'm from work",
        "I'm in trouble",
        "I'm in Love",
        "I'm in a meeting",
        "i'm in lisbon",  # bare "in" needs a capitalised place
        "I used to live in Paris",
        "I'm moving to Paris",
        "I live in",
        "I live in 1234",
        "his city is Paris",
        "I'm Ada, I got a letter, from Paris",  # "from" only continues the name's own clause
    ],
)
def test_no_city_is_invented(text: str) -> None:
    assert parse_message(text).city is None


@pytest.mark.parametrize(
    "text",
    [
        "what's my city?",
        "What\u2019s my city?",
        "what is my city",
        "where do I live?",
        "Where do I live",
        "where am I from?",
        "which city do I live in",
        "what city am I from?",
        "do you know where I live?",
        "do you remember my city?",
        "remind me where I live",
        "do I live in Paris?",  # checking a fact is asking, not telling
        "is my city Paris?",
        "I live in Paris?",
    ],
)
def test_asks_city(text: str) -> None:
    assert parse_message(text) == ParsedMessage(asks_city=True)


@pytest.mark.parametrize(
    "text",
    [
        "what's my name?",
        "What is my name",
        "who am I?",
        "Who am I",
        "do you know my name",
        "do you remember my name?",
        "what do you call me",
        "tell me my name",
        "is my name Ada?",
        "is my name Ada",
        "my name?",
        "do you know who I am?",
    ],
)
def test_asks_name(text: str) -> None:
    assert parse_message(text) == ParsedMessage(asks_name=True)


@pytest.mark.parametrize(
    "text",
    [
        "what do you know about me?",
        "What do you remember about me",
        "what have you stored about me",
        "what info have you got on me?",
        "tell me everything you know about me",
        "do you know anything about me?",
        "what are my name and city?",
        "do you know my name and where I live?",
    ],
)
def test_asks_both(text: str) -> None:
    assert parse_message(text) == ParsedMessage(asks_name=True, asks_city=True)


@pytest.mark.parametrize(
    "text",
    [
        "who am I talking to?",
        "what's your name?",
        "where do you live?",
        "this is my name",
        "I don't know where I live",
        "what do you think of cats?",
        "hello",
        "",
    ],
)
def test_not_a_question_about_the_user(text: str) -> None:
    result = parse_message(text)
    assert (result.asks_name, result.asks_city) == (False, False)


@pytest.mark.parametrize(
    "text",
    [
        "I don't live in Paris",
        "I do not live in Paris",
        "I no longer live in Paris",
        "my name is not Bob",
        "my name isn't Bob",
        "my name\u2019s not Bob",
        "I'm not from Lisbon",
        "I am not from Lisbon",
        "I'm not Bob",
        "I'm not living in Paris",
        "I never moved to Paris",
        "don't call me Bob",
        "I don't think my name is Bob",
        "if I lived in Paris I'd be happy",
        "if my name is Bob then so what",
    ],
)
def test_negations_and_conditionals_state_nothing(text: str) -> None:
    assert parse_message(text) == ParsedMessage()


def test_negation_only_cancels_its_own_clause() -> None:
    assert parse_message("I'm not Bob and I live in Paris") == ParsedMessage(city="Paris")
    assert parse_message("I'm Ada, I don't live in Paris") == ParsedMessage(name="Ada")
    assert parse_message("my name is Ada, not Bob") == ParsedMessage(name="Ada")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what's my name?", ParsedMessage(asks_name=True)),
        ("where do I live?", ParsedMessage(asks_city=True)),
        ("is my name Ada?", ParsedMessage(asks_name=True)),
        ("do I live in Paris?", ParsedMessage(asks_city=True)),
        ("do you remember that my name is Ada?", ParsedMessage(asks_name=True)),
        ("what do you call me, Ada?", ParsedMessage(asks_name=True)),
    ],
)
def test_questions_do_not_store_facts(text: str, expected: ParsedMessage) -> None:
    assert parse_message(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm Ada from Lisbon", ParsedMessage(name="Ada", city="Lisbon")),
        ("I'm Ada, from Lisbon", ParsedMessage(name="Ada", city="Lisbon")),
        ("I'm Ada Lovelace from London", ParsedMessage(name="Ada Lovelace", city="London")),
        ("my name is Ada from Lisbon", ParsedMessage(name="Ada", city="Lisbon")),
        ("I'm Ada, living in Paris", ParsedMessage(name="Ada", city="Paris")),
        ("I'm Ada who lives in Lisbon", ParsedMessage(name="Ada", city="Lisbon")),
        ("I'm Ada and I'm from Lisbon", ParsedMessage(name="Ada", city="Lisbon")),
        ("I live in Lisbon and I'm Ada", ParsedMessage(name="Ada", city="Lisbon")),
        ("My Name Is Ada And I Live In Lisbon", ParsedMessage(name="Ada", city="Lisbon")),
        (
            "my name is Ada Lovelace and I moved to São Paulo",
            ParsedMessage(name="Ada Lovelace", city="São Paulo"),
        ),
        ("I'm Ada, what's my city?", ParsedMessage(name="Ada", asks_city=True)),
        ("I'm Ada and where do I live?", ParsedMessage(name="Ada", asks_city=True)),
        ("I'm Ada how are you?", ParsedMessage(name="Ada")),
        ("I live in Porto and you?", ParsedMessage(city="Porto")),
        ("I live in Porto. What's my name?", ParsedMessage(city="Porto", asks_name=True)),
        (
            "I'm Ada. Where do I live? I live in Porto",
            ParsedMessage(name="Ada", city="Porto", asks_city=True),
        ),
    ],
)
def test_several_intents_in_one_message(text: str, expected: ParsedMessage) -> None:
    assert parse_message(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "my name is Ada Bea Cee Dee Eee Fff Ggg",  # seven words is not a name
        "I live in Aaa Bbb Ccc Ddd Eee Fff Ggg",
    ],
)
def test_values_longer_than_six_words_are_rejected(text: str) -> None:
    assert parse_message(text) == ParsedMessage()


def test_six_word_values_are_kept() -> None:
    assert parse_message("my name is Ada Bea Cee Dee Eee Fff").name == "Ada Bea Cee Dee Eee Fff"


def test_values_are_capped_at_100_characters() -> None:
    name = parse_message("call me " + "a" * 150).name
    assert name is not None
    assert len(name) == 100


@pytest.mark.parametrize(
    "text",
    [
        "my name is my name",
        "call me by my name",
        "I live in my house",
        "my city is my city",
        "I'm from my mom's place",
    ],
)
def test_values_never_contain_my(text: str) -> None:
    # "my ..." is a reference, not a value: nothing is taken from these at all.
    result = parse_message(text)
    assert (result.name, result.city) == (None, None)


def test_default_is_empty_and_frozen() -> None:
    empty = parse_message("nothing to see here")
    assert empty == ParsedMessage()
    with pytest.raises(dataclasses.FrozenInstanceError):
        empty.name = "Ada"  # type: ignore[misc]


def test_deterministic() -> None:
    text = "I'm Ada from Lisbon, what do you know about me?"
    assert {parse_message(text) for _ in range(5)} == {
        ParsedMessage(name="Ada", city="Lisbon", asks_name=True, asks_city=True)
    }


@pytest.mark.parametrize(
    "fragment", ["what know ", "I'm ", "my name is ", "St. ", "what ", "I'm Ada from "]
)
def test_long_adversarial_messages_stay_fast(fragment: str) -> None:
    # A lazily-gapped regex once took minutes on "what know " repeated; the parser must stay
    # roughly linear on anything a chat client can send.
    text = fragment * (20_000 // len(fragment))
    started = time.perf_counter()
    parse_message(text)
    assert time.perf_counter() - started < 2.0
