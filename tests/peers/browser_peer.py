"""The dashboard in a real browser: Debian's headless chromium driven
through chromedriver (selenium from PyPI; no browser is downloaded).

Logs in with an operator token, watches a running sim wave's servers
change without reloading (the event stream redraws), pauses and resumes
the wave with the buttons and sees the status change, cancels a cutover at
its confirmation, then logs in as a viewer and sees the pause refused.
Screenshots go to $SHOTS (the test's log directory).

Environment: API_URL, VIEWER, OPERATOR, SHOTS."""
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

API = os.environ["API_URL"]
SHOTS = os.environ["SHOTS"]
CHECKS = 0


def ok(cond, what):
    global CHECKS
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    CHECKS += 1
    print(f"ok: {what}", flush=True)


def browser(profile):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for f in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1400,900", f"--user-data-dir={profile}"):
        o.add_argument(f)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def shot(d, name):
    path = os.path.join(SHOTS, f"dashboard-{name}.png")
    d.save_screenshot(path)
    print(f"screenshot: {path}", flush=True)


def wait(d, cond, what, timeout=60):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,
                                                 NoSuchElementException)).until(cond)
    except Exception:
        shot(d, "failure")
        ok(False, f"timed out: {what}")


def click(d, by, what):
    """Clicks an element the live redraw may replace at any moment."""
    for _ in range(50):
        try:
            d.find_element(by, what).click()
            return
        except (StaleElementReferenceException, NoSuchElementException):
            time.sleep(0.1)
    ok(False, f"could not click {what}")


def text(d, css):
    """An element's text; "" while the live redraw replaces it."""
    try:
        els = d.find_elements(By.CSS_SELECTOR, css)
        return els[0].text if els else ""
    except StaleElementReferenceException:
        return ""


def login(d, token, who):
    d.get(API + "/")
    wait(d, EC.visibility_of_element_located((By.ID, "token")), "the login form")
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.ID, "login-button").click()
    wait(d, lambda d: who in text(d, "#who"), f"signed in as {who}")
    ok(True, f"logged in as {who}")


def servers_state(d):
    """What the servers table shows: lifecycle, step and bars, per server."""
    try:
        rows = d.find_elements(By.CSS_SELECTOR, "tr[id^='server-']")
        return tuple(r.text for r in rows)
    except StaleElementReferenceException:
        return ()


def main():
    profile = tempfile.mkdtemp(prefix="wm-chromium-")
    d = browser(profile)
    try:
        d.get(API + "/")
        ok("wavemill" in d.title, "the dashboard loads")
        d.find_element(By.ID, "token").send_keys("wmt_" + "1" * 64)
        d.find_element(By.ID, "login-button").click()
        wait(d, lambda d: "invalid" in text(d, "#login-error"), "a bad token is refused")
        ok(True, "a bad token is refused at login")
        d.find_element(By.ID, "token").clear()

        login(d, os.environ["OPERATOR"], "operator1")
        wait(d, lambda d: d.find_elements(By.ID, "wave-w1"), "wave w1 listed")
        wait(d, lambda d: "live" == text(d, "#live"), "the event stream connected")
        shot(d, "waves")
        click(d, By.LINK_TEXT, "w1")
        wait(d, lambda d: len(servers_state(d)) == 3, "w1's three servers")
        wait(d, lambda d: "RUNNING" in text(d, "#wave-status"), "w1 RUNNING")
        before = servers_state(d)
        wait(d, lambda d: servers_state(d) != before and len(servers_state(d)) == 3,
             "the servers' progress to change without a reload")
        ok(True, "progress changed live: " + " | ".join(s.replace("\n", " ")[:60] for s in servers_state(d)))
        bars = d.find_elements(By.CSS_SELECTOR, "[id^='taskbar-'], .disk .bar")
        ok(len(bars) > 0, f"progress bars drawn ({len(bars)})")
        ok(d.find_elements(By.CSS_SELECTOR, ".badge.sim"), "simulated servers are labelled sim")
        shot(d, "wave-running")

        click(d, By.ID, "act-pause")
        wait(d, lambda d: "PAUSED" in text(d, "#wave-status"), "w1 PAUSED after the button")
        ok(True, "pause button: wave PAUSED")
        shot(d, "wave-paused")
        click(d, By.ID, "act-resume")
        wait(d, lambda d: "RUNNING" in text(d, "#wave-status"), "w1 RUNNING after resume")
        ok(True, "resume button: wave RUNNING")

        click(d, By.ID, "act-cutover")
        wait(d, EC.visibility_of_element_located((By.ID, "confirm")), "cutover asks to confirm")
        ok("cutover" in text(d, "#confirm-text"), "the confirmation names the action")
        click(d, By.ID, "confirm-no")
        wait(d, EC.invisibility_of_element_located((By.ID, "confirm")), "cancel closes it")
        ok("not set" in d.find_element(By.TAG_NAME, "main").text, "cancelled cutover left the window unset")

        first = "w1-s1"
        click(d, By.LINK_TEXT, first)
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".timeline tr td"), "a server's timeline")
        ok(True, f"server {first}: task timeline shown")
        shot(d, "server")

        click(d, By.ID, "logout")
        login(d, os.environ["VIEWER"], "viewer1")
        d.get(API + "/#/wave/w1")
        wait(d, lambda d: "RUNNING" in text(d, "#wave-status"), "viewer sees w1 RUNNING")
        click(d, By.ID, "act-pause")
        wait(d, lambda d: "Refused (403)" in text(d, "#message"), "the viewer's pause refused")
        ok("viewer" in text(d, "#message"), "refusal says the role: " + text(d, "#message"))
        time.sleep(1)
        ok("RUNNING" in text(d, "#wave-status"), "the wave is still RUNNING")
        shot(d, "viewer-refused")
    finally:
        d.quit()
    print(f"all {CHECKS} browser checks passed")


if __name__ == "__main__":
    main()
