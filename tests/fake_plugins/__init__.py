"""Throwaway plugins that exercise every hook the core offers.

``descriptors`` maps names to PluginInfo objects for the ``crm_extra_plugins``
fixture; ``install`` makes them look pip-installed (a dist-info folder with
entry points) for tests that go through the real ``crm`` command line.
"""

from __future__ import annotations

from pathlib import Path

from crmcore import PluginInfo


def info(name: str, **kw: object) -> PluginInfo:
    return PluginInfo(name=name, description=f"{name} test plugin",
                      hooks=f"tests.fake_plugins.{name}.hooks", version="1.2.3", **kw)  # type: ignore[arg-type]


def _descriptors() -> dict[str, PluginInfo]:
    from importlib import import_module

    found = {n: import_module(f"tests.fake_plugins.{n}").plugin
             for n in ("alpha", "beta", "broken", "badtable", "badmig", "typo")}
    found["cyc1"] = info("cyc1", requires=("cyc2",))
    found["cyc2"] = info("cyc2", requires=("cyc1",))
    return found


def install(site: Path, names: list[str]) -> None:
    """Write a dist-info folder that registers ``names`` as crm.plugins entry points."""
    dist = site / "crm_fake_plugins-1.2.3.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: crm-fake-plugins\nVersion: 1.2.3\n"
    )
    lines = [f"{n} = tests.fake_plugins.{n}:plugin" for n in names]
    (dist / "entry_points.txt").write_text("[crm.plugins]\n" + "\n".join(lines) + "\n")
