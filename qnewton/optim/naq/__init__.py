"""The Nesterov- and momentum-accelerated quasi-Newton family (Indrapriyadarsini, Mahboubi,
Ninomiya, Asai et al.; the slides "Second-order Optimization for Training Neural Networks"), one
`torch.optim.Optimizer` per module, all driven by `step(closure)`:

full batch: `NAQ`, `MoQ`, `MNAQ`, `LNAQ`, `LMoQ`, `SR1N`; online (mini-batch): `ONAQ`, `OMoQ`,
`OLNAQ`, `OLMoQ`, `ASNAQ`. Each exposes `last_gradient_evaluations` after a step.
"""

from qnewton.optim.naq.asnaq import ASNAQ
from qnewton.optim.naq.core import AcceleratedQuasiNewton, FlatOptimizer
from qnewton.optim.naq.lmoq import LMoQ
from qnewton.optim.naq.lnaq import LNAQ
from qnewton.optim.naq.mnaq import MNAQ
from qnewton.optim.naq.moq import MoQ
from qnewton.optim.naq.naq import NAQ
from qnewton.optim.naq.olmoq import OLMoQ
from qnewton.optim.naq.olnaq import OLNAQ
from qnewton.optim.naq.omoq import OMoQ
from qnewton.optim.naq.onaq import ONAQ
from qnewton.optim.naq.sr1n import SR1N, steihaug_cg, trust_region_step

__all__ = ["ASNAQ", "AcceleratedQuasiNewton", "FlatOptimizer", "LMoQ", "LNAQ", "MNAQ", "MoQ", "NAQ", "OLMoQ",
           "OLNAQ", "OMoQ", "ONAQ", "SR1N", "steihaug_cg", "trust_region_step"]
