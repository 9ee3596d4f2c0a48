"""Searches and prompt sets on a Ray cluster of ComfyUI servers (``python -m cluster --help``).

A room of its own: nothing in the pack imports it (ComfyUI never loads it), and ``ray`` comes from
``cluster/requirements.txt``, not from the pack's requirements. Modules:

- ``sharding``  split a random search into seed ranges and merge the shards' reports (no Ray);
- ``tasks``     prompt files, grids of settings, task keys, the resumable output folder (no Ray);
- ``workers``   the Ray side: the embedded local instance, one actor per ComfyUI server, the run loop;
- ``jobs``      a sharded search and a prompt set on a pool of workers (progress, summary, plot);
- ``cli``       the command line.
"""
