import pytest
from netcase import Net


@pytest.fixture
def net() -> Net:
    """A fresh strongly typed network (see netcase.Net)."""
    return Net()
