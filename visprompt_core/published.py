"""The published MAE-VQGAN weights: where they come from and how they get onto disk.

The catalogue lists the authors' own links; nothing here mirrors the files. Downloads
land in ``models_dir()/downloads/<name>/``; each model is then converted once to the
project's safetensors format as ``models_dir()/<name>.safetensors`` with a record
``<name>.source.json`` beside it (where it came from, sha256 of every file).

The authors publish no checksums. The first download therefore checks the file's
structure (a torch checkpoint, not a web page; a YAML config with the expected codebook)
and records its sha256 in ``models_dir()/recorded_hashes.json``; later downloads and
``verify`` compare against that record and say that it was recorded locally.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from visprompt_core import paths
from visprompt_core.downloads import ProgressCallback, download, sha256_file
from visprompt_core.errors import CheckpointError, DownloadError, ModelNotFoundError

log = logging.getLogger(__name__)

Kind = Literal["mae_vqgan_pth", "taming_ckpt", "taming_yaml"]
Converter = Callable[..., object]
FileProgress = Callable[[str, int, "int | None"], None]

LICENCE_NOTICE = """\
The published MAE-VQGAN and VQGAN weights are research artefacts of other people.
- MAE-VQGAN (Bar, Gandelsman, Darrell, Globerson, Efros: "Visual Prompting via Image
  Inpainting", NeurIPS 2022) is derived from Meta's MAE code, released under
  CC BY-NC 4.0 (non-commercial use only). The checkpoints carry no licence of their own.
- VQGAN vqgan_imagenet_f16_1024 (Esser, Rombach, Ommer: "Taming Transformers",
  CVPR 2021) is published by its authors without a separate licence for the weights.
VisPrompt does not redistribute these files: they are downloaded from the authors' own
links (Google Drive, Heidelberg University file host) onto this computer. By continuing
you confirm that your use complies with those terms (in particular: no commercial use).
The authors publish no checksums; the first download's sha256 is recorded locally."""


@dataclass(frozen=True)
class PublishedFile:
    filename: str
    url: str
    page_url: str
    kind: Kind
    sha256: str | None = None
    approx_size: int | None = None


@dataclass(frozen=True)
class PublishedModel:
    name: str
    description: str
    source: str
    files: tuple[PublishedFile, ...]
    convertible: bool = True
    """False for the VQGAN alone: it is a tokenizer, kept as downloaded (the MAE-VQGAN
    checkpoints already contain it; ``convert_checkpoint(..., vqgan=...)`` can swap it in)."""

    @property
    def weights(self) -> PublishedFile:
        return next(f for f in self.files if f.kind != "taming_yaml")


_DRIVE = "https://drive.google.com/file/d/{}/view?usp=sharing"
_DRIVE_DL = "https://drive.google.com/uc?export=download&id={}"
_HEIBOX = "https://heibox.uni-heidelberg.de/d/8088892a516d4e3baf92/"
_HEIBOX_FILE = _HEIBOX + "files/?p={}&dl=1"
_PAPER = "https://github.com/amirbar/visual_prompting"


def _drive(filename: str, file_id: str, size: int | None) -> PublishedFile:
    return PublishedFile(
        filename, _DRIVE_DL.format(file_id), _DRIVE.format(file_id), "mae_vqgan_pth", None, size
    )


CATALOGUE: dict[str, PublishedModel] = {
    m.name: m
    for m in (
        PublishedModel(
            "mae-vqgan-cvf",
            "MAE-VQGAN ViT-L, trained on Computer Vision Figures, 1000 epochs (the paper's model)",
            _PAPER,
            (_drive("checkpoint-1000.pth", "1Xe0-cypS4dcwqbPuT8wflqj0b1E9Ct7E", 1_700_000_000),),
        ),
        PublishedModel(
            "mae-vqgan-cvf-imagenet",
            "MAE-VQGAN ViT-L, trained on Computer Vision Figures + ImageNet, 3400 epochs",
            _PAPER,
            (_drive("checkpoint-3400.pth", "130vNSlqg3faHzVGGh_vkeUUh-2uVX3se", 1_700_000_000),),
        ),
        PublishedModel(
            "vqgan-imagenet-f16-1024",
            "Taming-transformers VQGAN (ImageNet, f=16, 1024 codes): the tokenizer alone",
            "https://github.com/CompVis/taming-transformers",
            (
                PublishedFile(
                    "last.ckpt",
                    _HEIBOX_FILE.format("%2Fckpts%2Flast.ckpt"),
                    _HEIBOX,
                    "taming_ckpt",
                    None,
                    960_000_000,
                ),
                PublishedFile(
                    "model.yaml",
                    _HEIBOX_FILE.format("%2Fconfigs%2Fmodel.yaml"),
                    _HEIBOX,
                    "taming_yaml",
                    None,
                    2_000,
                ),
            ),
            convertible=False,
        ),
    )
}


def get(name: str) -> PublishedModel:
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(CATALOGUE)
        raise ModelNotFoundError(f"no published model {name!r}; known: {known}") from None


# --------------------------------------------------------------------------- paths


def download_dir(name: str) -> Path:
    return paths.models_dir() / "downloads" / name


def converted_path(name: str) -> Path:
    return paths.models_dir() / f"{name}.safetensors"


def record_path(name: str) -> Path:
    return paths.models_dir() / f"{name}.source.json"


def _hashes_path() -> Path:
    return paths.models_dir() / "recorded_hashes.json"


def recorded_hashes() -> dict[str, str]:
    try:
        data = json.loads(_hashes_path().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _record_hash(url: str, digest: str) -> None:
    hashes = recorded_hashes()
    hashes[url] = digest
    _hashes_path().parent.mkdir(parents=True, exist_ok=True)
    tmp = _hashes_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True))
    tmp.replace(_hashes_path())


def expected_hash(f: PublishedFile) -> tuple[str | None, str]:
    """(sha256, where it comes from: "published", "recorded" or "unknown")."""
    if f.sha256:
        return f.sha256, "published"
    if digest := recorded_hashes().get(f.url):
        return digest, "recorded"
    return None, "unknown"


def manual_download_hint(model: PublishedModel, f: PublishedFile) -> str:
    files = " ".join(f"<path to {x.filename}>" for x in model.files)
    return (
        f"Download it yourself: open {f.page_url} in a web browser, save {f.filename}, "
        f"then run: visprompt models import {model.name} {files}"
    )


# --------------------------------------------------------------------------- checks

_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def check_structure(path: Path, kind: Kind) -> None:
    """Raise ``CheckpointError`` unless ``path`` looks like a file of that kind.

    Cheap checks that catch the usual failures (a saved web page, a truncated transfer,
    the wrong file) without unpickling anything; the conversion then checks the keys.
    """
    if not path.is_file() or path.stat().st_size == 0:
        raise CheckpointError(f"{path} is missing or empty")
    with path.open("rb") as fh:
        head = fh.read(512)
    if head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        raise CheckpointError(f"{path} is a web page, not a checkpoint (a failed download?)")
    if kind == "taming_yaml":
        import yaml

        try:
            cfg = yaml.safe_load(path.read_text())
            params = cfg["model"]["params"]
        except (yaml.YAMLError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{path} is not a taming-transformers model.yaml") from exc
        if params.get("n_embed") != 1024 or params.get("embed_dim") != 256:
            raise CheckpointError(
                f"{path} is not the vqgan_imagenet_f16_1024 config "
                f"(n_embed={params.get('n_embed')}, "
                f"embed_dim={params.get('embed_dim')})"
            )
        return
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                bad = zf.testzip() if path.stat().st_size < 64 << 20 else None
        except (zipfile.BadZipFile, OSError) as exc:
            raise CheckpointError(f"{path} is a damaged zip/torch archive: {exc}") from exc
        if bad is not None:
            raise CheckpointError(f"{path} is damaged (bad member {bad})")
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            raise CheckpointError(f"{path} is a zip file but not a torch checkpoint")
        return
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return
    raise CheckpointError(f"{path} is not a torch checkpoint (neither zip nor legacy format)")


# --------------------------------------------------------------------------- operations


def status(name: str) -> str:
    """ "installed" (usable), "downloaded" (not yet converted) or "missing"."""
    model = get(name)
    if model.convertible and converted_path(name).exists():
        return "installed"
    if all((download_dir(name) / f.filename).exists() for f in model.files):
        return "downloaded" if model.convertible else "installed"
    return "missing"


def _convert(
    model: PublishedModel, sources: dict[str, Path], dtype: str, converter: Converter | None
) -> Path:
    if converter is None:
        from visprompt_core.checkpoints import convert_checkpoint as converter
    dst = converted_path(model.name)
    dst.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to %s (%s)", sources[model.weights.filename], dst, dtype)
    converter(sources[model.weights.filename], dst, dtype=dtype)  # writes atomically
    return dst


def _write_record(
    model: PublishedModel,
    sources: dict[str, Path],
    hashes: dict[str, str],
    how: str,
    dtype: str,
    dst: Path | None,
) -> None:
    record = {
        "name": model.name,
        "how": how,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dtype": dtype,
        "files": [
            {
                **asdict(f),
                "path": str(sources[f.filename]),
                "sha256_actual": hashes[f.filename],
                "sha256_source": expected_hash(f)[1],
            }
            for f in model.files
        ],
        "converted": str(dst) if dst else None,
        "converted_sha256": sha256_file(dst) if dst else None,
    }
    record_path(model.name).parent.mkdir(parents=True, exist_ok=True)
    record_path(model.name).write_text(json.dumps(record, indent=1))


def _check(f: PublishedFile, path: Path, digest: str) -> bool:
    """Compare with the known hash, check the structure; True when the hash is to be
    recorded (none known yet). Recording waits until the file has been converted."""
    want, where = expected_hash(f)
    if want and digest != want:
        raise DownloadError(
            f"sha256 of {path.name} is {digest} but the {where} hash is {want}"
            + (
                " (recorded on this computer's first download; delete "
                f"{_hashes_path()} if the authors replaced the file)"
                if where == "recorded"
                else ""
            )
        )
    check_structure(path, f.kind)
    return where == "unknown"


def _record_new_hashes(model: PublishedModel, hashes: dict[str, str], new: set[str]) -> None:
    for f in model.files:
        if f.filename in new:
            log.warning(
                "no published sha256 for %s; recorded %s after checking it",
                f.filename,
                hashes[f.filename],
            )
            _record_hash(f.url, hashes[f.filename])


def install(
    name: str,
    *,
    dtype: str = "fp16",
    convert: bool = True,
    keep_original: bool = False,
    progress: FileProgress | None = None,
    cancel: threading.Event | None = None,
    converter: Converter | None = None,
    **download_options: object,
) -> Path:
    """Download, verify and convert one published model; returns the file to load.

    The caller must have shown ``LICENCE_NOTICE`` and had it accepted. ``progress(name,
    done, total)`` is called with the file name while downloading, ``verify:<file>`` while
    hashing a file downloaded before, and ``convert`` (0/1, then 1/1) around the
    conversion. ``cancel.set()`` stops a download (it resumes next time).
    """
    model = get(name)
    if not model.convertible:
        convert, keep_original = False, True
    folder = download_dir(name)
    sources: dict[str, Path] = {}
    hashes: dict[str, str] = {}
    new: set[str] = set()
    for f in model.files:
        dest = folder / f.filename
        want, _ = expected_hash(f)
        if dest.exists():
            log.info("%s already downloaded", dest)
            hcb: ProgressCallback | None = None
            if progress is not None:

                def hcb(done: int, total: int | None, _n: str = f"verify:{f.filename}") -> None:
                    progress(_n, done, total)

            digest = sha256_file(dest, hcb)
        else:
            cb: ProgressCallback | None = None
            if progress is not None:

                def cb(done: int, total: int | None, _n: str = f.filename) -> None:
                    progress(_n, done, total)

            result = download(
                f.url,
                dest,
                sha256=want,
                expected_size=f.approx_size,
                progress=cb,
                cancel=cancel,
                manual_hint=manual_download_hint(model, f),
                **download_options,
            )
            digest = result.sha256
        try:
            if _check(f, dest, digest):
                new.add(f.filename)
        except (CheckpointError, DownloadError):
            dest.unlink(missing_ok=True)
            raise
        sources[f.filename], hashes[f.filename] = dest, digest
    dst = None
    if convert:
        if progress is not None:
            progress("convert", 0, 1)
        dst = _convert(model, sources, dtype, converter)
        if progress is not None:
            progress("convert", 1, 1)
    _record_new_hashes(model, hashes, new)
    _write_record(model, sources, hashes, "download", dtype, dst)
    if dst is not None and not keep_original:
        shutil.rmtree(folder, ignore_errors=True)
    return dst or sources[model.weights.filename]


def import_files(
    name: str, files: list[Path], *, dtype: str = "fp16", converter: Converter | None = None
) -> Path:
    """Verify files the user already has and convert them; the originals are left alone."""
    model = get(name)
    by_name = {p.name: Path(p) for p in files}
    sources: dict[str, Path] = {}
    hashes: dict[str, str] = {}
    new: set[str] = set()
    for f in model.files:
        path = by_name.get(f.filename)
        if path is None and len(files) == len(model.files) == 1:
            path = Path(files[0])
        if path is None:
            raise CheckpointError(
                f"{model.name} needs {f.filename}; got {', '.join(str(p) for p in files)}"
            )
        if not path.is_file():
            raise CheckpointError(f"{path} does not exist")
        digest = sha256_file(path)
        if _check(f, path, digest):
            new.add(f.filename)
        sources[f.filename], hashes[f.filename] = path, digest
    if not model.convertible:
        for f in model.files:
            dest = download_dir(name) / f.filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            shutil.copyfile(sources[f.filename], tmp)
            tmp.replace(dest)
            sources[f.filename] = dest
        _record_new_hashes(model, hashes, new)
        _write_record(model, sources, hashes, "import", dtype, None)
        return sources[model.weights.filename]
    dst = _convert(model, sources, dtype, converter)
    _record_new_hashes(model, hashes, new)
    _write_record(model, sources, hashes, "import", dtype, dst)
    return dst


def verify(name: str) -> list[str]:
    """Problems found with an installed model (empty list: all good)."""
    model = get(name)
    problems: list[str] = []
    try:
        record = json.loads(record_path(name).read_text())
    except (OSError, ValueError):
        return [f"{name}: not installed (no {record_path(name).name})"]
    conv = record.get("converted")
    if conv:
        if not Path(conv).exists():
            problems.append(f"{name}: converted file {conv} is missing")
        elif sha256_file(Path(conv)) != record.get("converted_sha256"):
            problems.append(f"{name}: {conv} changed since it was converted (sha256 differs)")
    for entry in record.get("files", []):
        path = Path(entry["path"])
        f = next((x for x in model.files if x.filename == entry["filename"]), None)
        if f is None:
            continue
        if not path.exists():
            if not model.convertible:
                problems.append(f"{name}: {path} is missing")
            continue  # originals are optional after conversion
        digest = sha256_file(path)
        want, where = expected_hash(f)
        if want and digest != want:
            problems.append(f"{name}: {path} sha256 {digest} differs from the {where} {want}")
        try:
            check_structure(path, f.kind)
        except CheckpointError as exc:
            problems.append(f"{name}: {exc}")
    return problems
