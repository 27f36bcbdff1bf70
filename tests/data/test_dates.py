"""The generated date task: seeded, held-out days never in training, every format parses back."""

import datetime

import pytest

from deepkit.data import dates


def test_test_dates_never_appear_in_training():
    days = dates.split_dates(seed=0)
    assert len(days["test"]) + len(days["train"]) == (dates.LAST - dates.FIRST).days + 1
    assert not set(days["test"]) & set(days["train"])
    train_targets = set(dates.date_pairs("train", 20000, seed=0)[1])
    test_targets = set(dates.date_pairs("test", 2000, seed=0)[1])
    assert not train_targets & test_targets


def test_the_same_seed_gives_the_same_pairs_and_another_seed_others():
    assert dates.date_pairs("train", 50, seed=3) == dates.date_pairs("train", 50, seed=3)
    assert dates.date_pairs("train", 50, seed=3) != dates.date_pairs("train", 50, seed=4)
    assert dates.date_pairs("test", 20, seed=3)[0] == dates.date_pairs("test", 40, seed=3)[0][:20]


@pytest.mark.parametrize("index", range(len(dates.FORMATS)))
def test_every_format_writes_the_day_month_and_year_of_its_date(index):
    date = datetime.date(1998, 3, 3)
    written = dates.write_date(date, index)
    assert written == dates.write_date(date, index, casing=1) or written.lower() == dates.write_date(date, index, 1)
    assert ("98" in written) and ("3" in written)
    if "{weekday}" in dates.FORMATS[index][0] or "{wkd}" in dates.FORMATS[index][0]:
        assert "Tue" in written  # 1998-03-03 was a Tuesday


def test_the_formats_of_the_issue_are_written_as_people_write_them():
    date = datetime.date(1998, 3, 3)
    written = {dates.write_date(date, i) for i in range(len(dates.FORMATS))}
    assert {"3rd of March 1998", "Tue 03/03/98", "March 3, 1998", "1998.03.03", "03/03/1998"} <= written
    assert [dates.ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_two_digit_years_are_unambiguous_in_the_range():
    assert dates.write_date(datetime.date(2049, 12, 31), 10) == "31/12/49"
    assert dates.write_date(datetime.date(1950, 1, 1), 10) == "1/1/50"


def test_targets_are_iso_dates_and_sources_fit_32_characters():
    sources, targets = dates.date_pairs("train", 5000, seed=0)
    assert all(datetime.date.fromisoformat(t).isoformat() == t for t in targets)
    assert max(len(s) for s in sources) <= 32 and min(len(s) for s in sources) >= 6


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="'train' or 'test'. Received: 'valid'"):
        dates.date_pairs("valid", 3)
    with pytest.raises(ValueError, match="positive integer. Received: 0"):
        dates.date_pairs("train", 0)
    with pytest.raises(ValueError, match=r"test_fraction.*\(0, 1\). Received: 1.5"):
        dates.split_dates(0, 1.5)
