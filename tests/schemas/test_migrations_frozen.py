"""Applied migrations never change: ``sourcewatch migrate`` compares each applied migration's
SHA-256 with the file, and a database refuses to migrate when one differs (a comment counts).
This table pins every migration released so far; a change goes into a new migration."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

RELEASED = {
    "0001_reference.sql": "099b73fef58e29a281e530cc7beee5f45ad6b6e59af6aeaa5b93558482272240",
    "0002_timeseries.sql": "9b43d65dcc978693c9e181433b4daf011d3f5f46b2fde024367d99a6d9237275",
    "0003_limits.sql": "6dd83f4b8a16507ee5a5e5d35279e54e6912f0eb07a96d73a0379f7de3578700",
    "0004_evaluation.sql": "4a27fecd76a199319091a672ee525a0e4aafb0d523eb5f1d5687b9710417f190",
    "0005_notifications.sql": "2a5d789c15c503e17b36648183b8a4cd998c3ddad5715308a306eb9f7e460eca",
    "0006_pattern_rules.sql": "2438f54662daf15b3da3533dc00e7fdfc2c6ba32e9c3889a86bf1d635c338214",
    "0007_case_event_notify.sql": "0acb70d22e33bc92a6caf64fb82582e2aba00cbf4fe8c2d1299bb7b1cfe804e7",
    "0008_staff.sql": "fd82dab11691f9818e56d65b6701a26846346efd100894af1f1bab022979255b",
    "0009_evaluation_errors.sql": "e71302b2bf4ee54316d693fe2750c9e4cd7c83f3c4c0f0727976a838decc2da4",
    "0010_disclosure.sql": "b984e957ff6508be112a2c55d3e96070655089de330a3a7a0049f38e3270cab7",
    "0011_publication_log.sql": "c55ea77cdf421b16b5ad3e52af546f21db5fbf9337378d0a27458e14bdb3af4a",
    "0012_emission_tax.sql": "a5d7c18360d690244f02174a4db9f385aeb4c4556e41a5c35638972333bbb9b1",
    "0013_timescaledb_aggregates.sql": "6683c45f6aa8531f3866e66ea0e28e37489e5d7c4944a44676d06c2fc4c873f5",
    "0014_publication_guards.sql": "e6383b38792e626fba8d4f8cea51ce114bf3cc83f07419c0036113721105d0a1",
    "0015_staff_token_expiry.sql": "f16b9e4e5502fe6608b7cc6f4261eb22526c16b23550d0da97eb89fd12ce9e64",
    "0016_compress_hourly_aggregate.sql": "ab9e1d4ef1d590ced4abe97f16caf18b9c63a301b136a5f06fc0d42c9751e512",
    "0017_staff_console.sql": "682b8951135619fc708a63b1ad2e5ed4c4ea96e572723cc716ba5a0643c781ce",
    "0018_completeness.sql": "c2298ea1f6954cfa4d634063a090ba5a01b16f7d55a41945786e77a9d6d885b6",
    "0019_recall.sql": "970effb5a677a63ada08ccad8875f918e96e7f51eef1a19804e45d5b04a6b05b",
    "0020_gateway_abuse.sql": "b6de63ffe2a9cd4e80e271dceba1849bef5e3c41be7026d91d2ebeaf110915f2",
    "0021_disclosure_requests.sql": "70879b3da0b168dcaf7ef873dcae1a9e8a55b12548b92ee4844e659c7c01d7c1",
    "0022_measurements_arrival_from_frame.sql": "e32c58a7ce496baa9a34d49041a45ab07c82cfba4929046b3e53d56a118a8e6a",
    "0023_system_alert_notifications.sql": "17354e5f2387bd454a8ce6500e76f840cfa7a8a22e7656cdbb1011347cc0ddea",
}


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_a_released_migration_is_never_edited(name: str) -> None:
    text = (resources.files("schemas.core") / "migrations" / name).read_text("utf-8")
    assert hashlib.sha256(text.encode()).hexdigest() == RELEASED[name], (
        f"{name} was released: put the change in a new migration"
    )


def test_every_migration_has_a_number_of_its_own() -> None:
    """``schema_migrations`` is keyed by the number: two files with one number would leave one
    of them unapplied on databases that already have the other."""
    names = [
        entry.name
        for entry in (resources.files("schemas.core") / "migrations").iterdir()
        if entry.name.endswith(".sql")
    ]
    numbers = [name.partition("_")[0] for name in names]
    assert len(set(numbers)) == len(numbers), sorted(names)
