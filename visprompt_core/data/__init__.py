"""Synthetic visual-task episodes for training and evaluating the default model.

procedural: batched random scenes; ops: pixel operations; tasks: task families (TASKS);
episodes: generate_batch and seed ranges; metrics: IoU / PSNR.
"""

from visprompt_core.data.episodes import (
    EVAL_SEED_BASE,
    TRAIN_SEED_BASE,
    EpisodeBatch,
    check_train_seed,
    episode_seed,
    generate_batch,
)
from visprompt_core.data.metrics import iou, psnr, score
from visprompt_core.data.tasks import IMAGE_TASKS, MASK_TASKS, TASK_NAMES, TASKS, TaskSpec

__all__ = [
    "EVAL_SEED_BASE",
    "IMAGE_TASKS",
    "MASK_TASKS",
    "TASKS",
    "TASK_NAMES",
    "TRAIN_SEED_BASE",
    "EpisodeBatch",
    "TaskSpec",
    "check_train_seed",
    "episode_seed",
    "generate_batch",
    "iou",
    "psnr",
    "score",
]
