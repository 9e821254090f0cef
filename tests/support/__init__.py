"""What the tests share: builders, servers, clients, readers and constants.

Test modules and `tests/conftest.py` import from here; nothing here imports a
test module. Fixtures defined here (the mailbox, the OpenID providers, the
browser, the migration apps, the live SCIM server) reach the test modules
because conftest imports them by name; an autouse one (`keep_logging`) is
imported by the modules it serves.
"""

import pkgutil

import pytest

# Plain asserts in these helpers report their operands as a test's own do.
pytest.register_assert_rewrite(
    *(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__))
)
