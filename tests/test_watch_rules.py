"""Alert rule files: the minimal form, the optional keys, and one clear message per bad file."""

from __future__ import annotations

import datetime as dt

import pytest

from creditlens.watch.rules import RulesError, load_rules, parse_rules, window_range

MINIMAL = """
[[rule]]
name = "heavy week"          # unique
scope = "member"             # org | member | service | cost_center (once chargeback exists)
window = "7d"                # 1d | 7d | 30d | mtd (month to date), whole UTC days ending yesterday
credits_over = 500.0         # fire when the scope's credits in the window exceed this
"""


def test_the_minimal_form_from_the_issue(tmp_path):
    path = tmp_path / "alerts.toml"
    path.write_text(MINIMAL)
    rules = load_rules(path)
    (rule,) = rules.rules
    assert (rule.name, rule.scope, rule.window, rule.credits_over) == ("heavy week", "member", "7d", 500.0)
    assert rule.only == () and not rule.spike and rules.path == path
    assert rules.spikes.k == 5.0 and rules.spikes.floor == 50.0


def test_optional_keys_and_spike_settings():
    rules = parse_rules(
        """
[spikes]
k = 4
floor = 20.5

[[rule]]
name = "a"
scope = "member"
window = "30d"
pct_of_allocation_over = 90
only = ["jdoe", "ana"]

[[rule]]
name = "b"
scope = "org"
window = "1d"
balance_under = 1000

[[rule]]
name = "c"
scope = "service"
window = "mtd"
spike = true
"""
    )
    a, b, c = rules.rules
    assert a.pct_of_allocation_over == 90.0 and a.only == ("jdoe", "ana")
    assert b.balance_under == 1000.0 and b.credits_over is None
    assert c.spike and c.window == "mtd"
    assert (rules.spikes.k, rules.spikes.floor) == (4.0, 20.5)
    assert rules.longest_lookback == 31 + 30


def test_windows_are_whole_utc_days_ending_yesterday():
    today = dt.date(2026, 3, 1)
    assert window_range("1d", today) == (dt.date(2026, 2, 28), dt.date(2026, 2, 28))
    assert window_range("7d", today) == (dt.date(2026, 2, 22), dt.date(2026, 2, 28))
    assert window_range("30d", today) == (dt.date(2026, 1, 30), dt.date(2026, 2, 28))
    assert window_range("mtd", today) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert window_range("mtd", dt.date(2026, 3, 15)) == (dt.date(2026, 3, 1), dt.date(2026, 3, 14))


def rule(**keys) -> str:
    body = {"name": '"heavy week"', "scope": '"member"', "window": '"7d"', "credits_over": "500.0"}
    body.update(keys)
    return "[[rule]]\n" + "".join(f"{k} = {v}\n" for k, v in body.items() if v is not None)


BAD_FILES = [
    (
        "unknown key",
        rule(credit_over="500"),
        "unknown key 'credit_over' (did you mean 'credits_over'?)",
    ),
    (
        "wrong type",
        rule(credits_over='"500"'),
        "\"heavy week\": key 'credits_over' must be a number, not a string",
    ),
    ("boolean is no number", rule(credits_over="true"), "key 'credits_over' must be a number, not true"),
    ("missing name", rule(name=None), "rule #1 has no 'name'"),
    ("duplicate name", rule() + rule(), "rule \"heavy week\" (rule #2): key 'name' duplicates rule #1"),
    ("unknown scope", rule(scope='"team"'), "rule \"heavy week\": key 'scope' is 'team', an unknown scope"),
    ("unknown window", rule(window='"2w"'), "rule \"heavy week\": key 'window' is '2w', an unknown window"),
    ("missing scope", rule(scope=None), "rule \"heavy week\": key 'scope' is missing"),
    ("no condition", rule(credits_over=None), 'rule "heavy week": no condition'),
    ("balance on a member", rule(credits_over=None, balance_under="10"), "key 'balance_under' needs scope \"org\""),
    (
        "allocation on the org",
        rule(scope='"org"', credits_over=None, pct_of_allocation_over="90"),
        "key 'pct_of_allocation_over' needs scope \"member\"",
    ),
    ("two conditions", rule(spike="true"), "keys credits_over and spike are each a condition"),
    ("only is no list", rule(only='"jdoe"'), "rule \"heavy week\": key 'only' must be a list"),
    ("negative threshold", rule(credits_over="-5"), "key 'credits_over' must be a number of 0 or more"),
    ("spike not a boolean", rule(credits_over=None, spike='"yes"'), "key 'spike' must be true or false"),
    ("not TOML", "[[rule]\nname = 1", "not valid TOML"),
    ("no rules", "# nothing yet\n", "no rules"),
    ("top-level typo", "[[rules]]\nname = 'x'\n", "unknown top-level key 'rules' (did you mean 'rule'?)"),
    ("bad spike settings", "[spikes]\nk = 'five'\n" + rule(), "[spikes]: key 'k' must be a number"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD_FILES, ids=[c for c, _, _ in BAD_FILES])
def test_each_bad_file_gets_its_message(tmp_path, case, text, message):
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    text_of = str(caught.value)
    assert message in text_of
    assert text_of.startswith(str(path)) and "\n" not in text_of


def test_a_missing_file(tmp_path):
    with pytest.raises(RulesError, match="does not exist"):
        load_rules(tmp_path / "nope.toml")


def test_cost_center_rules_need_a_source(tmp_path):
    with pytest.raises(RulesError, match="key 'cost_centers' is missing"):
        parse_rules(rule(scope='"cost_center"'), tmp_path / "a.toml")
    with pytest.raises(RulesError, match=r"the file .*centers\.csv does not exist"):
        parse_rules(rule(scope='"cost_center"', cost_centers='"centers.csv"'), tmp_path / "a.toml")
    (tmp_path / "centers.csv").write_text("username,cost_center\nana,Roads\n")
    rules = parse_rules(rule(scope='"cost_center"', cost_centers='"centers.csv"'), tmp_path / "a.toml")
    assert rules.rules[0].cost_centers == str(tmp_path / "centers.csv")
    with pytest.raises(RulesError, match="key 'cost_centers' needs scope"):
        parse_rules(rule(cost_centers='"role"'), tmp_path / "a.toml")
