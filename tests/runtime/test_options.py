"""The common flags parse into Options, named as Flux names them."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from shared.runtime import options


def _parse(*argv: str) -> options.Options:
    parser = argparse.ArgumentParser()
    options.add_common_flags(parser)
    return options.from_args(parser.parse_args(list(argv)))


def test_defaults_are_fluxs() -> None:
    parsed = _parse()

    expected = dataclasses.replace(
        options.Options(), runtime_namespace=parsed.runtime_namespace, instance=parsed.instance
    )
    assert dataclasses.replace(parsed, kubeconfig=None) == expected


def test_every_flag_reaches_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME_NAMESPACE", "flux-system")
    monkeypatch.setenv("POD_NAME", "source-controller-abc")

    parsed = _parse(
        "--concurrent", "8", "--requeue-dependency", "10s", "--kube-api-qps", "20",
        "--kube-api-burst", "40", "--enable-leader-election", "--watch-all-namespaces=false",
        "--watch-label-selector", "shard=a", "--no-cross-namespace-refs",
        "--default-service-account", "tenant", "--min-retry-delay", "1s",
        "--max-retry-delay", "5m", "--leader-election-lease-duration", "1m",
    )  # fmt: skip

    assert (parsed.concurrent, parsed.requeue_dependency) == (8, 10.0)
    assert (parsed.kube_api_qps, parsed.kube_api_burst) == (20.0, 40)
    assert parsed.enable_leader_election is True
    assert parsed.watch_all_namespaces is False
    assert parsed.watch_label_selector == "shard=a"
    assert parsed.no_cross_namespace_refs is True
    assert parsed.default_service_account == "tenant"
    assert (parsed.min_retry_delay, parsed.max_retry_delay) == (1.0, 300.0)
    assert parsed.leader_election_lease_duration == 60.0
    assert (parsed.runtime_namespace, parsed.instance) == ("flux-system", "source-controller-abc")


def test_bad_duration_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse("--requeue-dependency", "1d")

    assert "invalid duration '1d'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("addr", "split"), [(":8080", ("0.0.0.0", 8080)), ("127.0.0.1:9", ("127.0.0.1", 9))]
)
def test_listen_addresses(addr: str, split: tuple[str, int]) -> None:
    assert options.split_addr(addr) == split


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Declared:
    """A controller's own flags, declared once as fields."""

    retries: int = options.flag("how often to retry", default=3)
    ratio: float = options.flag("a share", default=0.5)
    timeout: float = options.flag("how long to wait", default=10.0, parse=options.duration)
    enabled: bool = options.flag("turn it on", default=False)
    mode: str = options.flag("how to run", default="fast", choices=("fast", "slow"))
    home: str = options.flag("where it lives", default="/data", env="DECLARED_HOME")
    stamp: str = options.flag("when it was built", default_factory=lambda: "built-now")
    names: tuple[str, ...] = options.flag("a name (repeatable)", default=("first",))
    not_a_flag: str = "kept"


def _declared(*argv: str) -> _Declared:
    parser = argparse.ArgumentParser()
    options.add_flags(parser, _Declared)
    return options.parsed(_Declared, parser.parse_args(list(argv)))


def test_a_declared_field_is_a_flag_with_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DECLARED_HOME", raising=False)

    assert _declared() == _Declared(stamp="built-now")


def test_each_declared_flag_is_named_and_parsed_from_its_field() -> None:
    parsed = _declared(
        "--retries", "5", "--ratio", "0.25", "--timeout", "1m", "--enabled",
        "--mode", "slow", "--home", "/srv", "--stamp", "given",
    )  # fmt: skip

    assert parsed == _Declared(
        retries=5, ratio=0.25, timeout=60.0, enabled=True, mode="slow", home="/srv", stamp="given"
    )


@pytest.mark.parametrize(("given", "expected"), [("=false", False), ("=true", True), ("", True)])
def test_a_bool_field_is_a_go_style_flag(given: str, expected: bool) -> None:
    assert _declared(f"--enabled{given}").enabled is expected


def test_an_environment_variable_replaces_the_flags_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DECLARED_HOME", "/from-env")

    assert _declared().home == "/from-env"
    assert _declared("--home", "/given").home == "/given"


@pytest.mark.parametrize("argv", [["--mode", "medium"], ["--retries", "many"], ["--enabled=maybe"]])
def test_a_value_outside_the_declaration_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        _declared(*argv)


def test_a_field_without_a_flag_is_not_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _declared("--not-a-flag", "x")

    assert "unrecognized arguments: --not-a-flag" in capsys.readouterr().err


def test_help_shows_each_declared_flag_with_its_text(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    options.add_flags(parser, _Declared)

    text = parser.format_help()

    for field in dataclasses.fields(_Declared):
        if field.name != "not_a_flag":
            assert f"--{field.name.replace('_', '-')}" in text
    assert "how often to retry" in text
    assert "{fast,slow}" in text


def test_every_common_option_but_the_pods_identity_is_a_flag() -> None:
    parser = argparse.ArgumentParser()
    options.add_common_flags(parser)

    dests = {action.dest for action in parser._actions} - {"help"}

    fields = {field.name for field in dataclasses.fields(options.Options)}
    assert dests == fields - {"runtime_namespace", "instance"}


@pytest.mark.parametrize(
    ("value", "size"),
    [("1", 1), ("1048576", 1 << 20), ("100Mi", 100 << 20), ("2Gi", 2 << 30), ("5k", 5000)],
)
def test_parse_size_takes_bytes_and_quantities(value: str, size: int) -> None:
    assert options.parse_size(value) == size


@pytest.mark.parametrize("value", ["", "0", "0Mi", "Mi", "-1", "1.5Gi", "10MB", "10mi"])
def test_parse_size_refuses_anything_else(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid size"):
        options.parse_size(value)


def test_a_tuple_field_is_a_repeatable_flag() -> None:
    assert _declared().names == ("first",)
    assert _declared("--names", "a", "--names", "b").names == ("a", "b")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([], 5),
        (["--interval-jitter-percentage", "0"], 0),
        (["--interval-jitter-percentage=99"], 99),
    ],
)
def test_interval_jitter_percentage_defaults_to_fluxs_five(given: list[str], expected: int) -> None:
    parser = argparse.ArgumentParser()
    options.add_common_flags(parser)
    assert options.from_args(parser.parse_args(given)).interval_jitter_percentage == expected


@pytest.mark.parametrize("value", ["100", "-1", "5.5", "x"])
def test_interval_jitter_percentage_out_of_range_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    options.add_common_flags(parser)
    with pytest.raises(SystemExit):
        parser.parse_args([f"--interval-jitter-percentage={value}"])
    assert "must be a non-negative value and less than 100" in capsys.readouterr().err
