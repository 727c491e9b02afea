"""The portal in headless Chromium: the demo operator logs in, finds a shipment, reads its
timeline, subscribes to alerts for it and unsubscribes; the transparency page is public."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from senae_tracking.embedded.up import DEMO_PASSWORD, DEMO_USERNAME
from tests.e2e.conftest import System, wait_for
from tests.e2e.test_alerts import flow

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is not installed: `make test` installs it (Debian package chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def test_operator_follows_a_shipment_in_the_portal(system: System, browser: Browser,
                                                    tmp_path: Path) -> None:
    shipment = f"WEB{uuid.uuid4().hex[:10].upper()}"
    response = httpx.post(f"{system.ingest}/v1/stage-events", json=flow(shipment, "055-2026-10-00000777"),
                          headers={"Authorization": f"Bearer {system.api_key}"}, timeout=30)
    assert response.status_code == 202, response.text
    wait_for("the shipment in the processor", lambda: httpx.get(
        f"{system.processor}/shipments/{shipment}", timeout=5).json().get("stage") == "DAI_ACEPTADA")

    page = browser.new_page(locale="es-EC")
    page.goto(f"{system.portal}/")
    expect(page).to_have_url(f"{system.portal}/login")
    page.fill("#username", DEMO_USERNAME)
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("incorrectos")

    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    row = page.locator("#shipments tr", has_text=shipment)
    expect(row).to_contain_text("055-2026-10-00000777")
    expect(row).to_contain_text("Aforo físico")
    page.screenshot(path=str(tmp_path / "shipments.png"))

    page.fill("#q", "055-2026-10-00000778")  # a well-formed DAI that is not theirs
    page.click("#search button")
    expect(page.get_by_role("alert")).to_contain_text("Ninguna de sus cargas")
    page.fill("#q", "999-2026-10-00000777")
    page.click("#search button")
    expect(page.get_by_role("alert")).to_contain_text("no es un distrito aduanero conocido")
    page.fill("#q", "055-2026-10-00000777")  # their DAI leads straight to the shipment
    page.click("#search button")
    expect(page.locator("#stage")).to_have_text("DAI aceptada, canal de aforo asignado")
    page.goto(f"{system.portal}/")

    page.locator("#shipments tr", has_text=shipment).get_by_role("link", name=shipment).click()
    expect(page.locator("#stage")).to_have_text("DAI aceptada, canal de aforo asignado")
    expect(page.locator("#timeline li")).to_have_count(5)
    expect(page.locator("#timeline li").first).to_contain_text("Manifiesto de carga transmitido")

    page.get_by_role("button", name="Recibir alertas de esta carga / Alert me about this shipment").click()
    expect(page.locator(".ok")).to_contain_text("Alerta registrada")
    subscription = page.locator("#subscriptions tr", has_text=shipment)
    expect(subscription).to_contain_text("activa / active")
    subscription.get_by_role("button", name="Dar de baja / Unsubscribe").click()
    expect(page.locator("#subscriptions tr", has_text=shipment)).to_contain_text("inactiva / off")

    page.goto(f"{system.portal}/quejas")
    page.fill("#asunto", "Demora en el aforo <b>físico</b>")
    page.fill("#shipment", shipment)
    page.click("button[type=submit]")
    expect(page.locator(".ok")).to_contain_text("Queja registrada")

    def complaints_counted() -> bool:
        rows = httpx.get(f"{system.processor}/stats/monthly", timeout=10).json()["rows"]
        return sum(int(r["quejas"]) for r in rows) >= 1

    wait_for("the complaint in the monthly table", complaints_counted)

    page.goto(f"{system.portal}/cargas/NOT-MINE-123")
    expect(page.locator("body")).to_contain_text("no encontrada")

    public = browser.new_page()
    public.goto(f"{system.portal}/transparencia")
    expect(public.locator("#monthly tr").first).to_contain_text("Volumen de Atenciones")
    public.close()
    page.close()
