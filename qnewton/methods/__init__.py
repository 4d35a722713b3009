"""Training methods: the registry (`registry`) and one module per family of methods.

`BUILTIN_MODULES` lists the modules whose `METHODS` lists are registered on import, in table
order; adding a family is one module plus one line here.
"""

from __future__ import annotations

import importlib

from qnewton.methods.registry import (MethodContext, MethodInfo, all_methods, build_optimizer, get_method,
                                      method_names, parse_method_options, register_method, resolve_hyper,
                                      unregister_method)

BUILTIN_MODULES: tuple[str, ...] = (
    "qnewton.methods.first_order",
    "qnewton.methods.newton",
    "qnewton.methods.torch_optim",
    "qnewton.methods.quasi_newton",
    "qnewton.methods.naq",
    "qnewton.methods.curvature_based",
)

for _module in BUILTIN_MODULES:
    for _info in importlib.import_module(_module).METHODS:
        register_method(_info, replace=True)

__all__ = ["BUILTIN_MODULES", "MethodContext", "MethodInfo", "all_methods", "build_optimizer", "get_method",
           "method_names", "parse_method_options", "register_method", "resolve_hyper", "unregister_method"]
