"""What a portal search names, and the rule a malformed one breaks."""

from senae_tracking.services.portal.app import search_kind
from senae_tracking.shared.catalog import load_catalog

CATALOG = load_catalog()


def test_search_kinds() -> None:
    assert search_kind("028-2025-10-00012345", CATALOG) == ("dai", None)
    assert search_kind("016790002025000123451", CATALOG)[0] == "entregas"
    assert search_kind("CEC2025MSCU00000001", CATALOG) == ("shipment", None)


def test_malformed_searches_name_the_rule_in_both_languages() -> None:
    for query, needle in [("999-2025-10-00012345", "distrito"), ("", "Escriba"),
                          ("0167900020250001234", "21"), ("<script>", "letras")]:
        _kind, problem = search_kind(query, CATALOG)
        assert problem is not None and needle in problem and " / " in problem, (query, problem)
