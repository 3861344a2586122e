#!/usr/bin/python3
"""Write exp_glibc.txt: inputs and the results of this machine's glibc exp
(libm.so.6 through ctypes; Debian 12's glibc 2.36 picks its FMA build on
CPUs with FMA), one "x exp(x)" pair per line as C99 hex floats. TestExpGlibc
checks fmath.Exp against it bit for bit. Deterministic: run with
/usr/bin/python3 gen_exp_glibc.py > exp_glibc.txt"""
import ctypes, math, random, struct

libm = ctypes.CDLL("libm.so.6")
libm.exp.restype = ctypes.c_double
libm.exp.argtypes = [ctypes.c_double]
rng = random.Random(20261201)
xs = [0.0, -0.0, 1.0, -1.0, 1e-300, -1e-300, 2.0**-54, -(2.0**-54), 2.0**-53, 511.9, 512.0, -512.0,
      709.78, 709.7827128933840, 709.79, -708.39, -708.4, -745.13, -745.1332191019412, -745.14,
      -1000.0, 1000.0, math.inf, -math.inf]
for lo, hi, n in [(-40, 40, 1600), (-1, 1, 300), (-1e-3, 1e-3, 200), (-745.2, -512, 500),
                  (-745.2, -708, 500), (512, 709.8, 400)]:
    xs += [rng.uniform(lo, hi) for _ in range(n)]
while len(xs) < 4000:
    x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
    if x == x:
        xs.append(x)
for x in xs:
    print(x.hex(), libm.exp(x).hex())
