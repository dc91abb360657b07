"""Torch and Lightning, pure: tensors, images and files in; tensors, metrics and files out.

Nothing here knows the catalog, the broker or the web (docs: DESIGN.md layering); the training
job (``workbench.training``) wires it to views and jobs.
"""
