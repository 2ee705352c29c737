"""The plugin manager: discovery, enablement, requirements, loading, order."""

from __future__ import annotations

import pytest

from crmcore.app import create_app
from crmcore.errors import PluginError
from crmcore.plugins import PluginSet, requested, resolve, write_enabled
from tests.fake_plugins import _descriptors
from tests.fake_plugins.alpha import plugin as alpha_hooks_info

descriptors = _descriptors()


def plugin_set(tmp_path, enabled, names=("alpha", "beta")):
    return PluginSet(tmp_path, {n: descriptors[n] for n in names}, enabled=enabled)


def test_crm_plugins_none_all_and_list(tmp_path):
    assert plugin_set(tmp_path, "none").order == []
    # "all" is every installed plugin: the built-ins, with leadworks after the
    # mail archive it requires, and the throwaway ones.
    assert plugin_set(tmp_path, "all").order == ["alpha", "beta", "gdpr", "mail", "leadworks"]
    assert plugin_set(tmp_path, " alpha ").order == ["alpha"]


def test_unknown_plugin_name_lists_the_known_ones(tmp_path):
    with pytest.raises(PluginError) as err:
        requested(tmp_path, ["alpha", "beta"], env="alpha,gamma")
    assert "gamma" in err.value.detail
    assert "installed plugins are: alpha, beta" in err.value.detail


def test_settings_file_decides_when_the_environment_is_silent(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_PLUGINS", raising=False)
    assert requested(tmp_path, ["alpha", "beta"]) == ["alpha", "beta"]  # no file: all
    write_enabled(tmp_path, ["alpha"])
    assert requested(tmp_path, ["alpha", "beta"]) == ["alpha"]
    monkeypatch.setenv("CRM_PLUGINS", "none")
    assert requested(tmp_path, ["alpha", "beta"]) == []


def test_missing_requirement_is_refused_by_name(tmp_path):
    with pytest.raises(PluginError, match=r"'beta' requires alpha \(not enabled\)"):
        plugin_set(tmp_path, "beta")
    with pytest.raises(PluginError, match=r"requires alpha \(not installed\)"):
        PluginSet(tmp_path, {"beta": descriptors["beta"]}, enabled="beta")


def test_circular_requirements_are_refused_naming_the_cycle(tmp_path):
    with pytest.raises(PluginError, match="circular plugin requirements: cyc1 -> cyc2 -> cyc1"):
        resolve(["cyc1", "cyc2"], descriptors)


def test_load_order_puts_requirements_first_then_names(tmp_path):
    infos = dict(descriptors)
    assert resolve(["beta", "alpha", "typo"], infos) == ["alpha", "beta", "typo"]


def test_hooks_are_called_core_first_then_in_load_order(tmp_path):
    plugins = plugin_set(tmp_path, "alpha,beta")
    roles = [r.name for result in plugins.hook.crm_roles() for r in result or ()]
    assert roles == ["admin", "manager", "sales", "alpha_partner", "beta_role"]
    # Every installed plugin: the built-in leadworks comes after alpha and beta.
    everyone = plugin_set(tmp_path, "all")
    roles = [r.name for result in everyone.hook.crm_roles() for r in result or ()]
    assert roles == ["admin", "manager", "sales", "alpha_partner", "beta_role", "advertiser"]


def test_only_enabled_plugins_hook_modules_are_imported(tmp_path):
    import sys

    sys.modules.pop("tests.fake_plugins.broken.hooks", None)
    plugins = PluginSet(tmp_path, {"alpha": descriptors["alpha"], "broken": descriptors["broken"]},
                        enabled="alpha")
    assert plugins.order == ["alpha"]
    assert "tests.fake_plugins.broken.hooks" not in sys.modules


def test_a_plugin_that_fails_to_import_stops_startup_naming_it(tmp_path):
    with pytest.raises(PluginError) as err:
        PluginSet(tmp_path, {"broken": descriptors["broken"]}, enabled="broken")
    assert "plugin 'broken' failed to import tests.fake_plugins.broken.hooks" in err.value.detail
    assert "ModuleNotFoundError" in err.value.detail


def test_a_misspelled_hook_is_refused_naming_the_plugin(tmp_path):
    with pytest.raises(PluginError, match="plugin 'typo' implements an unknown hook"):
        PluginSet(tmp_path, {"typo": descriptors["typo"]}, enabled="typo")


def test_a_table_outside_the_plugin_prefix_is_refused(tmp_path):
    with pytest.raises(PluginError, match="table 'sneaky_things'.*must be named badtable_"):
        create_app({"INSTANCE_PATH": str(tmp_path), "PLUGINS": "badtable"},
                   extra_plugins={"badtable": descriptors["badtable"]})


def test_settings_defaults_file_environment_and_validation(tmp_path, monkeypatch):
    info = {"alpha": alpha_hooks_info}
    assert PluginSet(tmp_path, info, enabled="alpha").settings("alpha") == {
        "greeting": "hello", "limit": 10}
    (tmp_path / "plugins.toml").write_text('[settings.alpha]\ngreeting = "hi"\n')
    monkeypatch.setenv("CRM_ALPHA_LIMIT", "3")
    assert PluginSet(tmp_path, info, enabled="alpha").settings("alpha") == {
        "greeting": "hi", "limit": 3}
    monkeypatch.setenv("CRM_ALPHA_LIMIT", "0")
    with pytest.raises(PluginError, match="plugin 'alpha' has invalid settings: limit"):
        PluginSet(tmp_path, info, enabled="alpha")


def test_hook_tracing_logs_each_call_with_implementations(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CRM_TRACE_HOOKS", "1")
    plugins = plugin_set(tmp_path, "alpha")
    with caplog.at_level("INFO", logger="crmcore.hooks"):
        plugins.hook.crm_roles()
    assert any("hook crm_roles -> [core, alpha]" in r.getMessage() and " ms" in r.getMessage()
               for r in caplog.records)


def test_startup_log_names_the_enabled_plugins(tmp_path, caplog):
    with caplog.at_level("INFO", logger="crmcore"):
        create_app({"INSTANCE_PATH": str(tmp_path), "PLUGINS": "alpha,beta"},
                   extra_plugins={"alpha": descriptors["alpha"], "beta": descriptors["beta"]})
    assert any("plugins enabled: alpha 1.2.3, beta 1.2.3" in r.getMessage() for r in caplog.records)


def test_core_only_app_runs_with_no_plugins(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "PLUGINS": "none"})
    assert app.extensions["crm"].plugins.order == []
    assert app.test_client().get("/healthz").status_code == 200
