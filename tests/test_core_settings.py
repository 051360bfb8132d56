"""Settings table: documented, overridable, and a wrong value stops start-up with a fix-it sentence."""
import pytest

from appliance.config import SETTINGS, ConfigError, load_settings, store_setting


def test_every_setting_is_documented():
    for setting in SETTINGS:
        assert setting.help.endswith(".") and len(setting.help) > 20, setting.name


def test_environment_overrides_defaults():
    settings = load_settings(environ={"APPLIANCE_PORT": "9090", "APPLIANCE_LOAD_MODELS": "false"})
    assert settings.port == 9090 and settings.load_models is False


def test_explicit_overrides_win_over_environment():
    assert load_settings({"port": 7000}, environ={"APPLIANCE_PORT": "9090"}).port == 7000


@pytest.mark.parametrize("name,value,needle", [
    ("APPLIANCE_PORT", "eighty", "APPLIANCE_PORT"),
    ("APPLIANCE_PORT", "70000", "between 0 and 65535"),
    ("APPLIANCE_LOAD_MODELS", "maybe", "true or false"),
    ("APPLIANCE_LOG_LEVEL", "LOUD", "DEBUG, INFO"),
])
def test_wrong_value_says_how_to_fix(name, value, needle):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={name: value})
    assert needle in str(info.value)


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="Unknown setting"):
        load_settings({"prot": 1}, environ={})


def test_stored_setting_applies_below_environment(tmp_path):
    store_setting(tmp_path, "model", "other.gguf")
    assert load_settings({"data": tmp_path}, environ={}).model == "other.gguf"
    env = {"APPLIANCE_MODEL": "env.gguf"}
    assert load_settings({"data": tmp_path}, environ=env).model == "env.gguf"


def test_corrupt_stored_settings_file_is_explained(tmp_path):
    (tmp_path / "settings.json").write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_settings({"data": tmp_path}, environ={})
