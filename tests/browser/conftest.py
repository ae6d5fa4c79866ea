"""The workbench in a real browser: the identity provider, the four services and the
workbench as processes of their own (own topic prefix and databases), Debian's headless
Chromium driven by Selenium, and axe-core injected into every page checked.

Fixtures: ``stack`` (addresses, the provider, users, API helpers), ``browser`` (a clean
Chromium for one test), ``second_browser`` (another person at the same time), and the
helpers :func:`sign_in` and :func:`assert_accessible`.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from deploy.launcher.pki import ensure_test_pki
from deploy.launcher.services import workbench_portal_client
from tests.support.mail import MailSink
from tests.support.services import SERVICES, ServiceProcess, free_port, service_env

ROOT = Path(__file__).resolve().parents[2]
IDP_SERVER = ROOT / "deploy" / "idp" / "server.py"
# Installed by `make axe` (pinned there) on first use.
AXE_SCRIPT = ROOT / ".local" / "node" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
    "--lang=vi",
)
WAIT_S = 20.0
# The agencies of the session's people: the environment division and the land registry.
AGENCY_A = "STNMT-MT"
AGENCY_B = "STNMT-VPDK"


@dataclass(frozen=True)
class Person:
    username: str
    password: str
    roles: tuple[str, ...]
    agency: str | None
    subject: str


@dataclass
class Stack:
    """What one browser test session runs: every address, and the people who sign in."""

    workbench: str
    idp: str
    services: dict[str, str]
    idp_dir: Path
    log_dir: Path
    mail: MailSink
    people: dict[str, Person] = field(default_factory=dict)

    # ------------------------------------------------------------------ the provider

    def _developer(self) -> tuple[str, str]:
        document = json.loads((self.idp_dir / "developer.json").read_text())
        return document["client_id"], document["client_secret"]

    def add_person(
        self, name: str, *roles: str, agency: str | None = None, scopes: tuple[str, ...] = ()
    ) -> Person:
        """A user of the session's provider, with a random password."""
        username = f"{name}.{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        form = {"username": username, "password": password, "role": " ".join(roles)}
        if agency:
            form["agency"] = agency
        if scopes:
            form["scope"] = " ".join(scopes)
        answer = httpx.post(f"{self.idp}/users", data=form, auth=self._developer(), timeout=10)
        answer.raise_for_status()
        person = Person(username, password, roles, agency, answer.json()["sub"])
        self.people[name] = person
        return person

    def token(self, role: str, *, agency: str | None = None, sub: str | None = None) -> str:
        """A token for calling an API directly (seeding, checks), from the developer
        client of the session's provider."""
        form = {"grant_type": "client_credentials", "role": role}
        if agency:
            form["agency"] = agency
        if sub:
            form["sub"] = sub
        answer = httpx.post(f"{self.idp}/token", data=form, auth=self._developer(), timeout=10)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    # ------------------------------------------------------------------ the services

    def api(
        self, service: str, method: str, path: str, token: str, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.services[service]}{path}", headers=headers, timeout=15, **kwargs
        )

    def upload_pdf(self, name: str, token: str) -> dict[str, Any]:
        """A small PDF of its own (its own bytes, so its own SHA-256), uploaded to intake."""
        answer = self.api(
            "intake",
            "POST",
            "/v1/documents",
            token,
            params={"name": name},
            content=small_pdf(f"{name} {secrets.token_hex(8)}"),
            headers={"Content-Type": "application/pdf"},
        )
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    def submit(self, submission: dict[str, Any]) -> dict[str, Any]:
        """Submit through intake as the portal would, uploading a PDF for each attachment
        first; the receipt."""
        portal = self.token("portal")
        for attachment in submission.get("attachments", []):
            stored = self.upload_pdf(attachment["name"], portal)
            attachment |= {
                "sha256": stored["sha256"],
                "size": stored["size"],
                "media_type": "application/pdf",
            }
        answer = self.api("intake", "POST", "/v1/dossiers", portal, json=submission)
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    def officer_view(self, dossier_id: str, agency: str = AGENCY_A) -> dict[str, Any] | None:
        answer = self.api(
            "processing",
            "GET",
            f"/v1/officer/dossiers/{dossier_id}",
            self.token("officer", agency=agency, sub="browser-seed"),
        )
        return dict(answer.json()) if answer.status_code == 200 else None

    def wait_for_status(
        self, dossier_id: str, *statuses: str, agency: str = AGENCY_A, timeout_s: float = 60
    ) -> dict[str, Any]:
        """The dossier as processing has it once it is in one of ``statuses``."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.officer_view(dossier_id, agency)
            if last is not None and last["status"] in statuses:
                return last
            time.sleep(0.25)
        raise AssertionError(f"{dossier_id} not in {statuses} (last: {last and last['status']})")


def _start_idp(directory: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, str(IDP_SERVER), "serve", "--port", str(port), "--dir", str(directory)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/.well-known/openid-configuration").status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the identity provider did not start: {log_path.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def stack(
    base_env: dict[str, str], run_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("browser")
    idp_process, idp_url = _start_idp(work / "idp", work / "idp.log")
    mail = MailSink()
    mail.start()
    # The agency's stand-in signing certificate (the launcher's test PKI, made once under
    # .local/pki), so that an approved dossier gets its signed result document.
    pki = ensure_test_pki(ROOT / ".local")
    # A prefix of its own: the end-to-end platform of the same session uses run_id bare.
    own = f"{run_id}wb"
    shared = {
        **base_env,
        "KAFKA_TOPIC_PREFIX": f"{own}.",
        "JWT_JWKS_URL": f"{idp_url}/.well-known/jwks.json",
        "JWT_ISSUER": idp_url,
        "JWT_AUDIENCE": "hoso",
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(mail.port),
        "INTAKE_IDENTITY_KEY": Fernet.generate_key().decode(),
        "INTAKE_SIGNING_PKCS12": str(pki.pkcs12_path),
        "INTAKE_SIGNING_PKCS12_PASSWORD": pki.password,
        "OTEL_TRACES_SAMPLER_RATIO": "0",
    }
    processes: list[ServiceProcess] = []
    for name in SERVICES:
        env = service_env(shared, own, name, {})
        processes.append(ServiceProcess(name, env, work / f"{name}.log"))
    urls = {p.name: p.url for p in processes}
    workbench = ServiceProcess(
        "workbench",
        {
            **shared,
            "WORKBENCH_INTAKE_URL": urls["intake"],
            "WORKBENCH_PROCESSING_URL": urls["processing"],
            "WORKBENCH_NOTIFICATION_URL": urls["notification"],
            "WORKBENCH_AUDIT_URL": urls["audit"],
            "WORKBENCH_IDP_URL": idp_url,
            "WORKBENCH_SESSION_KEY": Fernet.generate_key().decode(),
            # Citizens' uploads go through the workbench's own portal client, which the
            # provider makes on its first start; found as the launcher finds it.
            **workbench_portal_client(work / "idp"),
        },
        work / "workbench.log",
    )
    processes.append(workbench)
    print(f"\n[browser] logs in {work}")
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_ready()
        yield Stack(workbench.url, idp_url, urls, work / "idp", work, mail)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.stop()
        idp_process.terminate()
        idp_process.wait(timeout=10)
        mail.stop()


# --------------------------------------------------------------------------- browser


def _binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("needs Debian's chromium and chromium-driver: run `make browser` as root")
    return chromium, driver


def _new_driver() -> WebDriver:
    chromium, driver = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=ChromeService(executable_path=driver))
    chrome.set_page_load_timeout(WAIT_S * 2)
    return chrome


@pytest.fixture(scope="session")
def _drivers() -> Iterator[list[WebDriver]]:
    drivers: list[WebDriver] = []
    yield drivers
    for driver in drivers:
        driver.quit()


def _clean(drivers: list[WebDriver], index: int, stack: Stack) -> WebDriver:
    """The session's ``index``-th browser, signed out: its cookies dropped."""
    while len(drivers) <= index:
        drivers.append(_new_driver())
    driver = drivers[index]
    driver.get(f"{stack.workbench}/healthz")
    driver.delete_all_cookies()
    return driver


@pytest.fixture
def browser(stack: Stack, _drivers: list[WebDriver]) -> WebDriver:
    return _clean(_drivers, 0, stack)


@pytest.fixture
def second_browser(stack: Stack, _drivers: list[WebDriver]) -> WebDriver:
    """Another person's browser, open at the same time as ``browser``."""
    return _clean(_drivers, 1, stack)


def wait_until(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    return WebDriverWait(driver, WAIT_S).until(condition, message=what)


def _loaded_anew(driver: WebDriver) -> bool:
    """A new document (without the marker :func:`submit_and_wait` left on the old one),
    fully loaded."""
    try:
        return bool(
            driver.execute_script(
                "return window.__hosoOld === undefined && document.readyState === 'complete'"
            )
        )
    except WebDriverException:
        return False  # between two documents


def submit_and_wait(driver: WebDriver, press: Callable[[], None]) -> None:
    """Run ``press`` (which submits a form or follows a link) and wait until the next
    page has replaced this one and is loaded. The old document is marked, so that the
    wait cannot mistake it for the new one however the navigation is timed."""
    wait_until(
        driver,
        lambda d: d.execute_script("return document.readyState") == "complete",
        "this page loaded",
    )
    driver.execute_script("window.__hosoOld = true")
    press()
    wait_until(driver, _loaded_anew, "the next page")


def sign_in(driver: WebDriver, stack: Stack, person: Person, next_path: str = "/") -> None:
    """Sign ``person`` in through the provider's form, by keyboard as a person would, and
    land on ``next_path``, loaded."""
    from selenium.webdriver.common.keys import Keys

    driver.get(f"{stack.workbench}/auth/sign-in?next={next_path}")
    wait_until(driver, lambda d: d.find_elements(By.ID, "username"), "the sign-in form")
    driver.find_element(By.ID, "username").send_keys(person.username)
    password = driver.find_element(By.ID, "password")
    submit_and_wait(driver, lambda: password.send_keys(person.password + Keys.ENTER))
    wait_until(
        driver,
        lambda d: (
            d.current_url.startswith(stack.workbench)
            and "/auth/" not in d.current_url
            and _loaded_anew(d)
        ),
        "back at the workbench, signed in",
    )


# --------------------------------------------------------------------------- axe-core


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, installed by `make axe` at the version pinned there (a no-op
    once installed)."""
    if shutil.which("npm") is None and not AXE_SCRIPT.exists():
        pytest.skip("axe-core needs npm once (make axe)")
    subprocess.run(["make", "--no-print-directory", "axe"], cwd=ROOT, check=True, timeout=600)
    return AXE_SCRIPT.read_text(encoding="utf-8")


SERIOUS = ("serious", "critical")


def axe_violations(driver: WebDriver, source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page the driver shows."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(source)
    driver.set_script_timeout(WAIT_S * 2)
    violations: list[dict[str, Any]] = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
          .then(result => done(result.violations.map(v => ({
              id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))
          .catch(error => done([{id: 'axe-error', impact: 'critical', help: String(error),
                                 nodes: []}]));
        """
    )
    return [v for v in violations if v["impact"] in SERIOUS]


def assert_accessible(driver: WebDriver, source: str) -> None:
    found = axe_violations(driver, source)
    assert not found, f"{driver.current_url}: " + json.dumps(found, ensure_ascii=False, indent=1)


# --------------------------------------------------------------------------- dossiers


def mt004_submission(email: str | None = None) -> dict[str, Any]:
    """Registration as a hazardous-waste source owner (MT-004, environment division; no
    leader's approval), with its two documents."""
    example = json.loads((ROOT / "docs" / "examples" / "submission.json").read_text())
    if email:
        example["applicant"]["email"] = email
    return dict(example)


def small_pdf(text: str) -> bytes:
    from io import BytesIO

    from reportlab.pdfgen.canvas import Canvas

    buffer = BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(72, 720, text)
    canvas.save()
    return buffer.getvalue()


def mt001_submission() -> dict[str, Any]:
    """Appraisal of an EIA report (MT-001): the leader approves."""
    return {
        "procedure_code": "MT-001",
        "channel": "online",
        "applicant": {
            "type": "organisation",
            "name": "Công ty TNHH Sông Xanh",
            "id_number": "0101234567",
            "email": f"song-xanh.{secrets.token_hex(3)}@example.vn",
        },
        "form": {
            "project_name": "Nhà máy xử lý nước thải Sông Xanh",
            "project_location": "Khu công nghiệp Quang Minh, Mê Linh, Hà Nội",
            "project_group": "II",
            "total_investment_billion_vnd": 120,
            "capacity": "5.000 m³/ngày đêm",
        },
        "attachments": [
            {"document_code": code, "name": f"{code}.pdf"}
            for code in ("application_form", "eia_report", "feasibility_study")
        ],
    }
