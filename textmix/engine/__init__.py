"""The training engine: recipes, the task registry, run directories, the loop, evaluation, sweeps
and reports. Modality-free: it imports the core (torch, numpy, sklearn, matplotlib), accelerate and
PyYAML, never a task; a recipe's ``task`` names the registered task that builds data and models.
"""

from textmix.engine.recipe import Recipe, dump_recipe, load_recipe, recipe_from_dict
from textmix.engine.run_directory import RunDir
from textmix.engine.tasks import Task, TaskData, get_task, register_task
from textmix.engine.training import train

__all__ = [
    "Recipe",
    "RunDir",
    "Task",
    "TaskData",
    "dump_recipe",
    "get_task",
    "load_recipe",
    "recipe_from_dict",
    "register_task",
    "train",
]
