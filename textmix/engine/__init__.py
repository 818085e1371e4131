"""The training engine: recipes, the task registry, run directories, the loop, evaluation, sweeps
and reports. Modality-free: it imports the core (torch, numpy, sklearn, matplotlib), accelerate and
PyYAML, never a task; a recipe's ``task`` names the registered task that builds data and models.

Names are imported from their modules on first use, so ``from textmix.engine.run_directory import
RunDir`` (what ``predict`` needs) does not load the training loop, accelerate and matplotlib.
"""

from textmix.core.lazy_exports import lazy_exports

_EXPORTS = {
    "Recipe": "textmix.engine.recipe",
    "dump_recipe": "textmix.engine.recipe",
    "load_recipe": "textmix.engine.recipe",
    "recipe_from_dict": "textmix.engine.recipe",
    "RunDir": "textmix.engine.run_directory",
    "Task": "textmix.engine.tasks",
    "TaskData": "textmix.engine.tasks",
    "get_task": "textmix.engine.tasks",
    "register_task": "textmix.engine.tasks",
    "train": "textmix.engine.training",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = list(_EXPORTS)
