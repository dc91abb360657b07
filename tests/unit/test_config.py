"""Settings from the environment: embedded defaults, normalised URLs, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.config import Limits, Settings
from workbench.errors import ConfigError


def test_no_variables_means_the_embedded_default() -> None:
    settings = Settings.from_env({})
    assert settings.embedded and settings.is_sqlite
    assert settings.data_dir == Path(".workbench").absolute()
    assert settings.catalog_url == f"sqlite:///{Path('.workbench').absolute() / 'catalog.sqlite'}"


def test_variables_are_read_and_postgres_urls_normalised(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "WORKBENCH_DATA_DIR": str(tmp_path),
            "WORKBENCH_DATABASE_URL": "postgres://u@db/wb",
            "WORKBENCH_BROKER_URL": "amqp://guest:guest@mq//",
            "WORKBENCH_USER": "ada",
        }
    )
    assert settings.catalog_url == "postgresql+psycopg2://u@db/wb"
    assert not settings.embedded and not settings.is_sqlite
    assert (settings.data_dir, settings.user) == (tmp_path, "ada")


def test_overriding_the_data_dir_moves_the_embedded_catalog(tmp_path: Path) -> None:
    moved = Settings.from_env({}).with_overrides(data_dir=tmp_path)
    assert moved.catalog_url == f"sqlite:///{tmp_path / 'catalog.sqlite'}"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"WORKBENCH_DATABASE_URL": "mysql://db/wb"}, "mysql:// is not supported"),
        ({"WORKBENCH_USER": "  "}, "WORKBENCH_USER is empty"),
    ],
)
def test_bad_settings_say_what_to_fix(variables: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(variables)


def test_report_settings_travel_to_workers(tmp_path: Path) -> None:
    settings = Settings.from_env({"WORKBENCH_REPORT_NOTEBOOKS": str(tmp_path), "WORKBENCH_REPORT_KEEP": "3"})
    assert (settings.report_notebooks, settings.report_keep) == (tmp_path, 3)
    assert Settings.from_env(settings.environ()) == settings
    assert Settings.from_env({}).report_notebooks == Path(__file__).parents[2] / "notebooks" / "reports"
    with pytest.raises(ConfigError, match="WORKBENCH_REPORT_KEEP must be at least 1"):
        Settings.from_env({"WORKBENCH_REPORT_KEEP": "0"})


def test_limits_are_read_from_the_environment_and_travel_to_workers() -> None:
    settings = Settings.from_env(
        {
            "WORKBENCH_FILTER_MAX_VALUES": "500",
            "WORKBENCH_FILTER_MAX_FIELDS": "8",
            "WORKBENCH_FILTER_MAX_TOTAL_VALUES": "900",
            "WORKBENCH_CSV_MAX_COLUMNS": "40",
            "WORKBENCH_CSV_MAX_CELL_CHARS": "1000",
            "WORKBENCH_STATEMENT_TIMEOUT_SECONDS": "12.5",
        }
    )
    limits = settings.limits
    assert (limits.filter_max_values, limits.filter_max_fields, limits.filter_max_total_values) == (
        500,
        8,
        900,
    )
    assert (limits.csv_max_columns, limits.csv_max_cell_chars, limits.statement_timeout_seconds) == (
        40,
        1000,
        12.5,
    )
    assert Settings.from_env(settings.environ()) == settings
    assert Settings.from_env({}).limits == Limits()  # unset: the defaults


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"WORKBENCH_FILTER_MAX_VALUES": "0"},
            "WORKBENCH_FILTER_MAX_VALUES='0': the limit must be at least 1",
        ),
        ({"WORKBENCH_CSV_MAX_COLUMNS": "many"}, "WORKBENCH_CSV_MAX_COLUMNS='many' is not a number"),
        ({"WORKBENCH_STATEMENT_TIMEOUT_SECONDS": "-1"}, "give seconds, 0 or more"),
        ({"WORKBENCH_USER": "u" * 129}, "WORKBENCH_USER is 129 characters long; the limit is 128"),
    ],
)
def test_bad_limits_and_a_user_too_long_for_the_catalog_are_refused(
    variables: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(variables)
