"""qnewton: hybrid quantum-classical Newton's-method training (Q-Newton) as a simulation framework."""

__version__ = "0.1.0"
