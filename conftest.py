pytest_plugins = ["hearth_kit.testing.plugin"]
