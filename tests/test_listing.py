"""``gankit list`` reads a generated table (no torch import); it must equal what the registries hold."""

import json

from gankit import cli, listing
from gankit.registry import ALL


def test_stored_table_matches_the_live_registries():
    live = listing.live()
    assert listing.stored() == live, "src/gankit/listing.json is stale: run `python -m gankit.listing`"
    assert list(live) == [*ALL, "extractors"] and all(live[k] for k in live)  # every registry, none empty
    assert "ring8" in [r["name"] for r in live["datasets"]]


def test_list_output_is_the_live_registries_output(capsys):
    """What `gankit list metrics` prints from the table equals the lines built from the live registries."""
    assert cli.main(["list", "metrics"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == listing.lines("metrics", listing.live())
    fid = printed.index(next(line for line in printed if line.split()[:1] == ["fid"]))
    assert printed[fid + 1].split()[:2] == ["fid", "↓"]  # its key: lower is better


def test_a_stale_table_shows_what_it_holds(tmp_path):
    """lines() formats whatever table it is given: an entry missing from the table is missing from the list."""
    table = listing.live()
    table["datasets"] = [r for r in table["datasets"] if r["name"] != "ring8"]
    assert not any(line.split()[:1] == ["ring8"] for line in listing.lines("datasets", table))
    path = listing.write(tmp_path / "t.json")
    assert json.loads(path.read_text(encoding="utf-8")) == listing.live()


def test_installed_plugins_make_list_ask_the_live_registries(monkeypatch):
    """A plugin's entries cannot be in the generated table: with one installed, the live registries answer."""
    wrong = {kind: [] for kind in listing.live()}
    monkeypatch.setattr(listing, "stored", lambda: wrong)
    monkeypatch.setattr(listing, "plugins_installed", lambda: False)
    assert listing.lines("datasets") == ["datasets:"]  # the (here empty) table is what is shown
    monkeypatch.setattr(listing, "plugins_installed", lambda: True)
    assert listing.lines("datasets") == listing.lines("datasets", listing.live())
    assert any(line.split()[:1] == ["ring8"] for line in listing.lines("datasets"))


def test_plugin_groups_are_the_plugin_loaders():
    import pytest

    plugins = pytest.importorskip("gankit.metrics.plugins", reason="no plugin loader in this version")
    assert set(listing.PLUGIN_GROUPS) == {plugins.EXTRACTOR_GROUP, plugins.METRIC_GROUP}
