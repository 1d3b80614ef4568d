"""Exercise the plugin on PyQt6 (Krita 6) with PyQt5 blocked: ``python qt6_check.py``.

Run by ``test_pyqt6.py`` in a subprocess when PyQt6 is installed. Prints "ok" at the end.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.modules["PyQt5"] = None  # type: ignore[assignment]  # as in Krita 6: PyQt5 refused
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "krita_plugin"))

from visual_prompt import png  # noqa: E402
from visual_prompt.app import PluginApp  # noqa: E402
from visual_prompt.client import Client  # noqa: E402
from visual_prompt.panel import PromptPanel  # noqa: E402
from visual_prompt.qt import QT_API, QApplication, QEventLoop, QTimer  # noqa: E402
from visual_prompt.server import ServerManager  # noqa: E402
from visual_prompt.settings import Settings  # noqa: E402


def spin(condition: object, seconds: float = 20) -> None:
    loop = QEventLoop()
    ticker = QTimer()
    ticker.timeout.connect(lambda: loop.quit() if condition() else None)  # type: ignore[operator]
    ticker.start(20)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main() -> None:
    assert QT_API == "PyQt6", QT_API
    app = QApplication([])
    rgba = bytes([1, 2, 3, 4]) * 6
    assert png.decode_rgba(png.encode_rgba(rgba, 3, 2)) == (rgba, 3, 2)
    assert len(png.scale_rgba(rgba, 3, 2, 6, 4)) == 6 * 4 * 4

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    call = Client(closed).health()
    spin(lambda: call.done)
    assert call.error is not None and call.error.code == "server_not_running", call.error

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VISPROMPT_CONFIG_DIR"] = tmp
        script = Path(tmp) / "ready.py"
        script.write_text(
            "import json, time\n"
            "print('VISPROMPT_READY ' + json.dumps({'url': 'http://127.0.0.1:9'}), flush=True)\n"
            "time.sleep(30)\n"
        )
        manager = ServerManager(
            Settings(local_url=closed, backend_command=[sys.executable, str(script)])
        )
        got: list[str] = []
        manager.ready.connect(lambda url, _token: got.append(url))
        manager.connect_server()
        spin(lambda: bool(got))
        assert got == ["http://127.0.0.1:9"], got
        manager.stop()
        assert manager.process is None

        plugin = PluginApp(Settings(), lambda: None, Path(tmp) / "s.json")
        panel = PromptPanel(plugin)
        panel.show()
        panel.add_pair_button.click()
        assert len(panel.rows) == 2
        panel.run()
        assert "Open an image" in panel.message.text()
        panel.save_settings()
        assert json.loads((Path(tmp) / "s.json").read_text())["server_mode"] == "local"
        panel.close()
    del app
    print("ok")


if __name__ == "__main__":
    main()
