"""What the Monte Carlo chain kernel needs from the dynamics: the update (SGD, ULA or Euler–Maruyama), the noise
law's compiled form, the model hook printed from SymPy and compiled; or, when the model has no
compiled form, the pieces of the NumPy fallback."""

from __future__ import annotations

import math

import numpy as np

from fwpotential.errors import InputError
from fwpotential.model.noise import psd_sqrt
from fwpotential.montecarlo import _kernel, codegen

__all__ = ["ChainModel"]


class ChainModel:
    """What the kernel needs from the dynamics: the law's compiled form, hook source, constants; or
    the NumPy fallback's pieces."""

    def __init__(self, dyn, step_size, temperature, backend):
        self.dyn, self.d = dyn, dyn.dim
        if dyn.kind not in ("sgd", "langevin", "diffusion"):
            raise InputError(
                f"fw.simulate runs SGD, Langevin or diffusion dynamics, got kind={dyn.kind!r}; build it with "
                "fw.sgd(...), fw.langevin(...) or fw.Diffusion(...)"
            )
        if dyn.loss is None and dyn.kind != "diffusion":
            raise InputError("fw.simulate needs the loss of the dynamics (b = -∇f)")
        if temperature is not None and dyn.kind == "sgd":
            raise InputError("temperature= is for Langevin or diffusion dynamics; SGD's noise level is its step size")
        eps = step_size if temperature is None else float(temperature)
        if not (eps > 0 and math.isfinite(eps)):
            raise InputError(f"temperature must be a positive number, got {temperature!r}")
        self.temperature = eps
        noise = dyn.noise
        self.form = noise.compiled_form()
        self.minibatch = self.form is not None and self.form.kind == "minibatch"
        self.factor = 1.0
        self.data = np.zeros((1, 1))
        self.batch = 0
        if dyn.kind in ("langevin", "diffusion"):
            # x - γ∇f + √(2γε) ξ = x - γ(∇f + factor L ξ) with L Lᵀ = a (2I), factor = √(ε/γ);
            # Euler–Maruyama x + γ b + √(γε) σ ξ of a diffusion the same with -∇f -> b, a = σσᵀ
            self.factor = math.sqrt(eps / step_size)
            what = "ULA" if dyn.kind == "langevin" else "Euler–Maruyama"
            self.description = f"{what}, temperature ε={eps:g}"
        elif self.minibatch:
            self.batch = self.form.draws
            self.description = noise.describe()
        else:
            self.factor = 1.0 / math.sqrt(self.form.draws if self.form is not None else 1)
            self.description = noise.describe()
        self.backend, self.reason, self.kernel = "numpy", "", None
        if backend == "numpy":
            self.reason = "backend='numpy' requested"
            return
        try:
            self._compile()
            self.backend = "numba"
        except codegen.Unsupported as exc:
            if backend == "numba":
                raise InputError(
                    f"backend='numba' cannot compile this model: {exc}; use backend='auto' or 'numpy'"
                ) from None
            self.reason = f"NumPy fallback (one vectorised call per step for all chains): {exc}"

    def _compile(self):
        loss, form = self.dyn.loss, self.form
        if loss is None:
            raise codegen.Unsupported("a diffusion's drift has no loss to print (the hooks print -∇f)")
        fastmath = False
        if self.minibatch:
            self.nb = _kernel.SUM_NB
            replace = form.replace
            src, self.data = codegen.memo_source(
                loss, ("sum", self.nb, replace), lambda: codegen.finite_sum_block_source(loss, self.nb, replace)
            )
            fastmath = codegen.SUM_FASTMATH
        else:
            self.nb = _kernel.GAUSS_NB
            if form is None:
                why = "a Python sampler, or a callable or matrix-field covariance"
                raise codegen.Unsupported(f"{self.dyn.noise.describe()} has no compiled form ({why})")
            if form.kind == "constant":
                L = psd_sqrt(form.covariance)
                key = ("L", self.nb, L.tobytes())
                src = codegen.memo_source(loss, key, lambda: codegen.gaussian_block_source(loss, self.nb, L=L))
            else:
                s_expr = form.variance
                src = codegen.memo_source(
                    loss,
                    ("s", self.nb, str(s_expr)),
                    lambda: codegen.gaussian_block_source(loss, self.nb, scalar_expr=s_expr),
                )
        self.source = src
        self.block = codegen.compile_block(src, fastmath)
        self.kernel = _kernel.chain_kernel()
        self.data = np.ascontiguousarray(self.data, dtype=float)
