"""The Linux installer (makeself .run) end to end in a temporary HOME.

The fast tests use a stand-in backend (the source tree's server behind a shell script);
the slow one installs the real PyInstaller bundle.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from build_plugin_zip import build_plugin_zip
from installer_support import (
    HAVE_KRITA,
    RunningServer,
    krita_gui_smoke,
    kritarunner_prompt_check,
    snapshot,
    user_env,
)
from linux.build_installer import build

pytestmark = pytest.mark.skipif(shutil.which("makeself") is None, reason="makeself missing")

KRITARC = "[General]\nfoo=bar\n\n[python]\nenable_scripter=true\n\n[Other]\nx=1\n"


def make_installer(bundle: Path, out: Path, flavour: str | None = "placeholder") -> Path:
    """flavour None: read it from the bundle's BUNDLE_INFO.json (the real bundle)."""
    return build(
        bundle,
        out,
        plugin_src=Path(__file__).resolve().parents[2] / "krita_plugin",
        compression="gzip",
        flavour=flavour,
    )


def run(installer: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["sh", str(installer), "--nox11", "--", *args],
        env=user_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def kritarc_python(text: str) -> dict[str, str]:
    section, out = "", {}
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip()
        elif section == "[python]" and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def prompt_body() -> dict[str, object]:
    from PIL import Image

    def png(img: Image.Image) -> str:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return base64.b64encode(buf.getvalue()).decode()

    grad = Image.linear_gradient("L").resize((96, 80)).convert("RGB")
    return {
        "examples": [{"input": png(grad), "output": png(grad.rotate(90))}],
        "query": png(grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        "mask": None,
        "options": {"model": "default", "ensemble": None, "answer_size": None},
    }


def check_installed(home: Path, flatpak: bool) -> None:
    share, config = home / ".local/share", home / ".config"
    server = share / "visprompt/server/visprompt-server"
    assert server.is_file() and server.stat().st_mode & 0o111
    assert (share / "visprompt/install-manifest.txt").is_file()
    assert (share / "visprompt/uninstall.sh").is_file()
    kdirs = [share / "krita"] + ([home / ".var/app/org.kde.krita/data/krita"] if flatpak else [])
    with zipfile.ZipFile(build_plugin_zip(home.parent / "zipcheck")) as zf:
        packed = [n for n in zf.namelist() if not n.endswith("/")]
        for kdir in kdirs:
            for name in packed:
                target = (
                    (kdir / "actions" / name)
                    if name.endswith(".action")
                    else (kdir / "pykrita" / name)
                )
                assert target.read_bytes() == zf.read(name), target
    rc = (config / "kritarc").read_text()
    assert kritarc_python(rc) == {"enable_scripter": "true", "enable_visual_prompt": "true"}
    assert "[General]\nfoo=bar" in rc and "[Other]\nx=1" in rc
    backend = json.loads((config / "visprompt/backend.json").read_text())
    assert backend["executable"] == str(server)
    if flatpak:
        fp = home / ".var/app/org.kde.krita"
        assert kritarc_python((fp / "config/kritarc").read_text()) == {
            "enable_visual_prompt": "true"
        }
        settings = json.loads((fp / "config/visprompt/krita_plugin.json").read_text())
        assert settings == {"backend_path": str(server)}
    assert not (config / "visprompt/krita_plugin.json").exists()  # default prefix: found as is


def without_manifest_date(snap: dict[str, str], home: Path) -> dict[str, str]:
    manifest = home / ".local/share/visprompt/install-manifest.txt"
    key = manifest.relative_to(home).as_posix()
    out = dict(snap)
    if manifest.exists():
        out[key] = "\n".join(manifest.read_text().splitlines()[1:])
    return out


def test_install_reinstall_use_uninstall(
    fake_bundle: Path, tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    installer = make_installer(fake_bundle, tmp_path / "out")
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".config/kritarc").write_text(KRITARC)
    (home / ".var/app/org.kde.krita").mkdir(parents=True)  # a Flatpak Krita is installed
    before = snapshot(home)

    dry = run(installer, home, "--dry-run")
    assert "would install" in dry.stdout and snapshot(home) == before

    run(installer, home)
    check_installed(home, flatpak=True)
    first = without_manifest_date(snapshot(home), home)

    run(installer, home)  # idempotent: a second run gives the same files
    assert without_manifest_date(snapshot(home), home) == first

    server = start_server(
        [str(home / ".local/share/visprompt/server/visprompt-server")], user_env(home)
    )
    assert server.get("/v1/health")["status"] == "ok"
    answer = server.post("/v1/prompt", prompt_body())
    assert (answer["width"], answer["height"]) == (96, 80)
    server.proc.terminate()
    server.proc.wait(timeout=30)

    out = subprocess.run(
        ["bash", str(home / ".local/share/visprompt/uninstall.sh")],
        env=user_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "uninstalled" in out.stdout
    assert snapshot(home) == before, out.stdout
    assert (home / ".config/kritarc").read_text() == KRITARC


def test_custom_prefix_and_uninstall_through_the_installer(
    fake_bundle: Path, tmp_path: Path
) -> None:
    installer = make_installer(fake_bundle, tmp_path / "out")
    home = tmp_path / "home"
    home.mkdir()
    before = snapshot(home)
    prefix = home / "apps/vp"
    run(installer, home, "--prefix", str(prefix), "--no-flatpak")
    server = prefix / "server/visprompt-server"
    assert server.is_file()
    settings = json.loads((home / ".config/visprompt/krita_plugin.json").read_text())
    assert settings == {"backend_path": str(server)}
    assert kritarc_python((home / ".config/kritarc").read_text()) == {
        "enable_visual_prompt": "true"
    }
    assert not (home / ".var").exists()
    # a setting the user changed after installing is kept by the uninstaller
    (home / ".config/visprompt/krita_plugin.json").write_text('{"backend_path": "/mine"}')
    out = run(installer, home, "--prefix", str(prefix), "--uninstall")
    assert "kept" in out.stdout
    left = set(snapshot(home)) - set(before)
    assert left == {".config", ".config/visprompt", ".config/visprompt/krita_plugin.json"}


def test_refuses_to_overwrite_a_foreign_folder(fake_bundle: Path, tmp_path: Path) -> None:
    installer = make_installer(fake_bundle, tmp_path / "out")
    home = tmp_path / "home"
    (home / ".local/share/visprompt/server").mkdir(parents=True)
    proc = subprocess.run(
        ["sh", str(installer), "--nox11", "--"], env=user_env(home), capture_output=True, text=True
    )
    assert proc.returncode != 0 and "not installed by this installer" in proc.stderr


@pytest.mark.slow
def test_real_bundle_installs_and_answers(
    built_bundle: Path, tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    installer = make_installer(built_bundle, tmp_path / "out", flavour=None)
    print(f"installer {installer.name}: {installer.stat().st_size / 1e6:.0f} MB")
    home = tmp_path / "home"
    home.mkdir()
    before = snapshot(home)
    run(installer, home, "--no-flatpak")
    exe = home / ".local/share/visprompt/server/visprompt-server"
    server = start_server([str(exe)], user_env(home))
    print(f"installed bundle ready after {server.startup_s:.1f} s")
    assert server.post("/v1/prompt", prompt_body())["width"] == 96
    if HAVE_KRITA:  # the installed plugin, inside real Krita, through the installed backend
        verdict = kritarunner_prompt_check(home / ".local/share/krita/pykrita", server, tmp_path)
        assert verdict["ok"], verdict.get("error") or verdict["failures"]
    server.proc.terminate()
    server.proc.wait(timeout=30)
    subprocess.run(
        ["bash", str(home / ".local/share/visprompt/uninstall.sh")],
        env=user_env(home),
        check=True,
        capture_output=True,
    )
    assert snapshot(home) == before


@pytest.mark.slow
@pytest.mark.krita
@pytest.mark.skipif(not HAVE_KRITA, reason="needs krita, kritarunner, xvfb-run, tests/krita")
def test_installed_plugin_works_in_real_krita(
    fake_bundle: Path, tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    """Krita loads the plugin from where the installer put it (docker and action appear),
    and the installed plugin files run a prompt inside Krita through the installed backend
    (here the stand-in bundle; the real one in test_real_bundle_installs_and_answers)."""
    installer = make_installer(fake_bundle, tmp_path / "out")
    home = tmp_path / "home"
    home.mkdir()
    run(installer, home, "--no-flatpak")
    settings = home / ".config/visprompt/krita_plugin.json"
    settings.write_text(json.dumps({"start_server": False}))  # the test starts it below
    smoke = krita_gui_smoke(home, tmp_path)
    assert "error" not in smoke, smoke["error"]
    assert smoke["docker_found"] and smoke["action_found"], smoke
    server = start_server(
        [str(home / ".local/share/visprompt/server/visprompt-server")], user_env(home)
    )
    verdict = kritarunner_prompt_check(home / ".local/share/krita/pykrita", server, tmp_path)
    assert verdict["ok"], verdict.get("error") or verdict["failures"]
