"""The web client end to end in headless Chromium (selenium): two browser users and one TCP client in a channel.

Screenshots are saved in the test's tmp dir; ``UPDATE_DOCS_SCREENSHOT=1`` also copies the wide one to
docs/web-client.png for the README.  Skipped where Chromium or its driver is not installed, except in CI (``CI``
set), where that is a failure: .ci/run installs Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT = 15.0
DOCS_SCREENSHOT = Path(__file__).parent.parent / "docs" / "web-client.png"

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        pytest.fail("chromium and chromedriver are not installed (.ci/run installs them)", pytrace=False)
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@contextmanager
def chat_server(tmp_path: Path, *options: str) -> Iterator[tuple[int, int]]:
    """``trio-chat serve`` with a web port, both on port 0; yields (IRC port, web port); ended by its PID."""
    command = [sys.executable, "-m", "trio_chat.cli", "serve", "--port", "0", "--web-port", "0"]
    command += ["--db", str(tmp_path / "chat.db"), "--flood-limit", "0", *options]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        ports: dict[str, int] = {}
        while len(ports) < 2:
            line = proc.stderr.readline()
            assert line, "the server ended before listening"
            if m := re.search(r"listening on \S+ port (\d+)", line):
                ports["irc"] = int(m.group(1))
            elif m := re.search(r"web client on http://\S+:(\d+)/", line):
                ports["web"] = int(m.group(1))
        stderr = proc.stderr
        drain = threading.Thread(target=lambda: [None for _ in stderr], daemon=True)  # never let the pipe fill
        drain.start()
        yield ports["irc"], ports["web"]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


class TCPClient:
    """A plain IRC client on a blocking socket, with a timeout on every read."""

    def __init__(self, port: int, nick: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buffer = b""
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        self.expect(r" 001 ")

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def expect(self, pattern: str) -> str:
        regex = re.compile(pattern)
        while True:
            while b"\r\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\r\n", 1)
                line = raw.decode()
                if line.startswith("PING"):
                    self.send("PONG" + line[4:])
                if regex.search(line):
                    return line
            data = self.sock.recv(65536)
            assert data, f"closed while waiting for {pattern!r}"
            self.buffer += data


@contextmanager
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,640", "--lang=en"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: WebDriver, condition: Callable[[WebDriver], object], what: str) -> object:
    return WebDriverWait(driver, WAIT).until(condition, f"timed out waiting for {what}")


def message_texts(driver: WebDriver) -> list[str]:
    return [
        str(t)
        for t in driver.execute_script(
            "return [...document.querySelectorAll('#messages .line .text')].map(e => e.textContent)"
        )
    ]


def wait_for_text(driver: WebDriver, text: str) -> None:
    wait_until(driver, lambda d: any(text in t for t in message_texts(d)), repr(text))


def log_in(driver: WebDriver, web_port: int, nick: str) -> None:
    driver.get(f"http://127.0.0.1:{web_port}/#lobby")
    driver.find_element(By.ID, "nick").send_keys(nick)
    driver.find_element(By.ID, "connect").click()
    wait_until(driver, lambda d: d.find_element(By.ID, "me").text == nick, f"{nick} to be connected")
    wait_until(driver, lambda d: "You joined #lobby" in " ".join(message_texts(d)), f"{nick} to join #lobby")


def say(driver: WebDriver, text: str) -> None:
    field = driver.find_element(By.ID, "input")
    field.send_keys(text)
    field.send_keys(Keys.ENTER)


def nick_list(driver: WebDriver) -> list[str]:
    return [li.text.strip().lstrip("@+") for li in driver.find_elements(By.CSS_SELECTOR, "#nicklist li")]


def test_two_browsers_and_a_tcp_client_chat(tmp_path: Path) -> None:
    with chat_server(tmp_path) as (irc_port, web_port), browser() as alice, browser() as bob:
        carol = TCPClient(irc_port, "carol")
        carol.send("JOIN #lobby", "TOPIC #lobby :Planning the release")
        carol.expect(r" TOPIC #lobby ")

        log_in(alice, web_port, "alice")
        carol.expect(r":alice!\S+ JOIN #lobby")
        log_in(bob, web_port, "bob")
        carol.expect(r":bob!\S+ JOIN #lobby")
        wait_until(alice, lambda d: set(nick_list(d)) == {"alice", "bob", "carol"}, "the nick list")
        assert "Planning the release" in alice.find_element(By.ID, "topic").text

        # Every direction: browser -> browser and TCP, TCP -> browsers.
        say(alice, "hi bob, is the build green?")
        wait_for_text(bob, "hi bob, is the build green?")
        assert carol.expect(r"PRIVMSG #lobby").endswith(":hi bob, is the build green?")
        say(bob, "alice: yes, all tests pass")
        wait_for_text(alice, "alice: yes, all tests pass")
        carol.expect(r":bob!\S+ PRIVMSG #lobby :alice: yes")
        carol.send("PRIVMSG #lobby :\x02great\x02, shipping <script>alert(1)</script> now")
        for driver in (alice, bob):
            wait_for_text(driver, "great, shipping <script>alert(1)</script> now")
            assert driver.execute_script("return document.querySelectorAll('#messages script').length") == 0
            assert driver.execute_script("return document.querySelector('#messages .b')?.textContent") == "great"

        # A nick change, seen by the other browser and the TCP client; completion finds the new nick.
        say(bob, "/nick robert")
        wait_for_text(alice, "bob is now known as robert")
        carol.expect(r":bob!\S+ NICK :?robert")
        field = alice.find_element(By.ID, "input")
        field.send_keys("rob", Keys.TAB)
        assert field.get_attribute("value") == "robert: "
        field.send_keys("welcome back", Keys.ENTER)
        wait_for_text(bob, "robert: welcome back")
        field.send_keys(Keys.ARROW_UP)
        assert field.get_attribute("value") == "robert: welcome back"
        field.clear()

        # A reload: the page reconnects on its own and the server replays the channel's history.
        alice.refresh()
        wait_until(alice, lambda d: d.find_element(By.ID, "me").text.startswith("alice"), "alice to reconnect")
        wait_until(
            alice,
            lambda d: any(
                "hi bob, is the build green?" in str(t)
                for t in d.execute_script(
                    "return [...document.querySelectorAll('#messages .line.history .text')].map(e => e.textContent)"
                )
            ),
            "the replayed history",
        )
        say(bob, "good morning, alice")
        wait_for_text(alice, "good morning, alice")
        carol.send(
            "PRIVMSG #lobby :release notes are \x0304red\x03 and \x1ditalic\x1d",
            "PRIVMSG #lobby :\x01ACTION does a little dance\x01",
        )
        wait_for_text(alice, "does a little dance")
        assert alice.execute_script("return document.querySelector('#messages .c4')?.textContent") == "red"

        alice.save_screenshot(str(tmp_path / "web-client.png"))  # the test's artifact
        if os.environ.get("UPDATE_DOCS_SCREENSHOT"):  # README's picture; a plain test run leaves the tree alone
            shutil.copyfile(tmp_path / "web-client.png", DOCS_SCREENSHOT)
        # A phone's width: the buffer list becomes a strip, the nick list hides, the text still fits.
        alice.set_window_size(390, 800)
        wait_until(alice, lambda d: not d.find_element(By.ID, "nicklist").is_displayed(), "the phone layout")
        assert alice.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        alice.save_screenshot(str(tmp_path / "web-client-phone.png"))
        carol.sock.close()
