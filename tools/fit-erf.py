#!/usr/bin/env python3
"""Fits the rational erf used by the native GELU / Erf kernels (native/mathfn.h erf_approx, simd512.h erf16).

erf(z) ~ z * P(z^2) / Q(z^2) on [0, 4] (odd, so [-4, 4]; the kernels clamp z there: erf(4) = 1 - 1.5e-8),
P of degree 6 and Q of degree 4 in z^2 with Q(0) = 1. Linearized least squares (z*P - erf*Q = 0) with
Sanathanan-Koerner weights 1/Q and Lawson reweighting toward the minimax error; the best iterate is kept.
Prints the coefficients in the z^2 basis and the maximum error in float64 and in float32 Horner
evaluation. Needs numpy. Run: python3 tools/fit-erf.py
"""
from math import erf

import numpy as np

N_P, N_Q = 7, 5  # coefficients of P and Q
z = np.linspace(0.0, 4.0, 40001)
y = np.array([erf(v) for v in z])
t = z * z / 16.0  # scaled variable keeps the least-squares system well conditioned

lawson = np.ones_like(z)
w = np.ones_like(z)
best = None
for _ in range(60):
    cols = [z * t**i for i in range(N_P)] + [-y * t**j for j in range(1, N_Q)]
    sol, *_ = np.linalg.lstsq(np.stack(cols, 1) * w[:, None], y * w, rcond=None)
    p, q = sol[:N_P], np.concatenate([[1.0], sol[N_P:]])
    P, Q = np.polyval(p[::-1], t), np.polyval(q[::-1], t)
    err = z * P / Q - y
    if best is None or np.abs(err).max() < best[2]:
        best = (p.copy(), q.copy(), np.abs(err).max())
    lawson = lawson * np.abs(err)
    lawson /= lawson.sum()
    w = np.sqrt(lawson) / np.abs(Q)

p, q, e64 = best
pz = [p[i] / 16.0**i for i in range(N_P)]  # back to the z^2 basis
qz = [q[j] / 16.0**j for j in range(N_Q)]
zf = z.astype(np.float32)
z2f = zf * zf
Pf = np.float32(pz[-1])
for c in pz[-2::-1]:
    Pf = np.float32(Pf * z2f + np.float32(c))
Qf = np.float32(qz[-1])
for c in qz[-2::-1]:
    Qf = np.float32(Qf * z2f + np.float32(c))
e32 = np.abs((zf * Pf / Qf).astype(np.float64) - y).max()
print("P (z^2 basis, constant first):", ", ".join("%.9e" % v for v in pz))
print("Q (z^2 basis, constant first):", ", ".join("%.9e" % v for v in qz))
print("max |error|: float64 %.3g, float32 evaluation %.3g; min Q on [0, 4] %.3g" % (e64, e32, np.polyval(qz[::-1], z * z).min()))
