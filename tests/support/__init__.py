"""What the tests share: builders, servers, clients, readers and constants.

Test modules and `tests/conftest.py` import from here; nothing here imports a
test module. Fixtures defined here (the mailbox, the OpenID providers, the
migration apps) reach a test module the way pytest finds them: conftest or the
module imports them by name.
"""

import pkgutil

import pytest

# Plain asserts in these helpers report their operands as a test's own do.
pytest.register_assert_rewrite(
    *(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__))
)
