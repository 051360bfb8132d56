"""The abuse benchmark runs, and its crash part proves what the README promises: kill -9 during sends loses no reply,
WhatsApp (status webhooks carry our id back) never sends one twice, Telegram (at-least-once) loses none."""
import re

from tests.conftest import run_benchmark


def test_kill_9_during_sends_loses_nothing_and_whatsapp_sends_once():
    output = run_benchmark("abuse_bench.py", "--parts", "4", "--cycles", "2")
    whatsapp = re.search(r"whatsapp\s+(\d+) customers: lost (\d+), duplicates (\d+)", output)
    telegram = re.search(r"telegram\s+(\d+) customers: lost (\d+), duplicates (\d+)", output)
    assert whatsapp and telegram, output
    assert int(whatsapp[1]) == 6 and (whatsapp[2], whatsapp[3]) == ("0", "0"), output
    assert int(telegram[1]) == 6 and telegram[2] == "0", output
