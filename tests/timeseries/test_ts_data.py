"""CSV reading: built-in series verified, clear DataErrors naming the file and the line or column."""
import numpy as np
import pytest

from fromzero.errors import DataError
from fromzero.timeseries import load_series, read_csv
from fromzero.timeseries import data as tsdata


def write(tmp_path, text, name="s.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8", newline="")
    return p


def test_builtin_series_have_the_documented_shape_and_statistics():
    ett = load_series("ett")
    assert ett.values.shape == (17420, 7) and ett.columns[-1] == "OT"
    assert str(ett.times[0]) == "2016-07-01T00:00:00" and str(ett.times[-1]) == "2018-06-26T19:00:00"
    # the README's training statistics (first 8,640 rows, population std)
    np.testing.assert_allclose(ett.values[:8640, -1].mean(), 17.1283, atol=1e-4)
    np.testing.assert_allclose(ett.values[:8640, -1].std(), 9.1765, atol=1e-4)
    mel = load_series("melbourne")  # CRLF line ends, quoted dates, no final newline
    assert mel.values.shape == (3650, 1) and mel.columns == ["Temp"]
    np.testing.assert_allclose(mel.values.mean(), 11.178, atol=1e-3)


def test_a_modified_builtin_file_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "melbourne"
    fake.mkdir()
    (fake / "daily-min-temperatures.csv").write_text('"Date","Temp"\n"1981-01-01",20.7\n')
    monkeypatch.setattr(tsdata, "EMBEDDED", tmp_path)
    with pytest.raises(DataError, match="has sha256 .* expected 8b9de63e"):
        load_series("melbourne")


def test_many_columns_and_a_time_column(tmp_path):
    p = write(tmp_path, "time,a,b\n2020-01-01 00:00,1,2.5\n2020-01-01 01:00,2,-3\n")
    s = read_csv(p)
    assert s.columns == ["a", "b"] and s.values.tolist() == [[1, 2.5], [2, -3]]
    assert s.times.dtype == np.dtype("datetime64[s]")
    assert read_csv(p, columns=["b"]).values[:, 0].tolist() == [2.5, -3]
    assert read_csv(write(tmp_path, "x\n1\n2\n", "plain.csv")).times is None


def test_missing_column_names_the_file_and_lists_the_columns(tmp_path):
    p = write(tmp_path, "date,a,b\n2020-01-01,1,2\n")
    with pytest.raises(DataError, match=r"s\.csv: no column 'c'; columns are: date, a, b"):
        read_csv(p, columns=["a", "c"])
    with pytest.raises(DataError, match=r"no time column 'when'"):
        read_csv(p, time_col="when")


def test_non_numeric_value_names_file_line_and_column(tmp_path):
    p = write(tmp_path, "date,a,b\n2020-01-01,1,2\n2020-01-02,1,n/a\n")
    with pytest.raises(DataError, match=r"s\.csv, line 3, column 'b': expected a number, got 'n/a'"):
        read_csv(p)


def test_empty_field_short_row_and_bad_dates_are_clear(tmp_path):
    with pytest.raises(DataError, match=r"line 2, column 'a': missing value"):
        read_csv(write(tmp_path, "date,a\n2020-01-01,\n"))
    with pytest.raises(DataError, match=r"line 3: expected 2 fields \(date, a\), got 1"):
        read_csv(write(tmp_path, "date,a\n2020-01-01,1\n2020-01-02\n"))
    with pytest.raises(DataError, match=r"line 3, column 'date': time '2020-01-01' is not after"):
        read_csv(write(tmp_path, "date,a\n2020-01-02,1\n2020-01-01,2\n"))
    with pytest.raises(DataError, match=r"line 2, column 'a': expected a finite number, got 'nan'"):
        read_csv(write(tmp_path, "date,a\n2020-01-01,nan\n"))
    with pytest.raises(DataError, match="no such file"):
        read_csv(tmp_path / "nope.csv")
