"""Do the answers carry colour? Image-like families, several model files side by side.

    python benchmarks/bench_answer_colour.py --models default runs/b/model.safetensors

Same held-out episodes for every model (evaluation seeds). Per model and family: PSNR of
the answer cell, chroma PSNR (each pixel minus its grey mean: the colour part alone; a
grey answer scores about what "grey answer" shows), and saturation ratio (the answer's
mean colour amplitude over the true answer's: 1 = as colourful, 0 = grey). The
"grey answer" column is the true answer turned grey, for scale. ``greyscale`` answers are
grey, so they have no saturation ratio (nan).
"""

from __future__ import annotations

import argparse

import torch

from visprompt_core.data.episodes import episode_seed, generate_batch
from visprompt_core.data.metrics import colour_figures
from visprompt_core.data.tasks import IMAGE_TASKS, TASK_NAMES
from visprompt_core.evaluation import predict_answers
from visprompt_core.pipeline import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["default"], help="names or files")
    parser.add_argument("--episodes", type=int, default=16, help="per family")
    parser.add_argument("--seed-index", type=int, default=600)
    args = parser.parse_args()
    episodes = generate_batch(args.episodes * len(IMAGE_TASKS),
                              episode_seed("eval", args.seed_index), tasks=list(IMAGE_TASKS))
    truth = episodes.answer.float()
    ids = episodes.task_ids
    rows = {"grey answer": truth.mean(-3, keepdim=True).expand_as(truth)}

    def figures(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, float, float]:
        f = colour_figures(pred, target)
        return f["psnr"], f["chroma_psnr"], f["saturation_ratio"]

    for name in args.models:
        model = load_model(name, device="cpu", dtype="fp32").model.eval()
        rows[name] = predict_answers(model, episodes).float()
    print(f"{len(ids)} held-out episodes, {args.episodes} per image-like family; "
          "PSNR / chroma PSNR / saturation ratio of the answer cell")
    print(f"{'family':<18}" + "".join(f"{name[-30:]:>32}" for name in rows))
    print(f"{'':<18}" + "".join(f"{'PSNR':>12}{'chroma':>10}{'sat':>10}" for _ in rows))
    for tid, task in enumerate(TASK_NAMES):
        if task not in IMAGE_TASKS:
            continue
        sel = ids == tid
        cells = [figures(pred[sel], truth[sel]) for pred in rows.values()]
        print(f"{task:<18}" + "".join(f"{p:>12.2f}{c:>10.2f}{s:>10.2f}" for p, c, s in cells))
    cells = [figures(pred, truth) for pred in rows.values()]
    print(f"{'all':<18}" + "".join(f"{p:>12.2f}{c:>10.2f}{s:>10.2f}" for p, c, s in cells))


if __name__ == "__main__":
    main()
