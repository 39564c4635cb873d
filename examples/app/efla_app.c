/* A C program that links a deltac-generated EFLA kernel (CPU object file) and
 * checks it against a plain double-precision recurrence.
 *
 *   deltac compile examples/efla.delta --emit=object -o efla.o
 *   deltac compile examples/efla.delta --emit=header -o efla.h
 *   cc -O2 -I. examples/app/efla_app.c efla.o -lm -o efla_app && ./efla_app
 */
#include "efla.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 2, T = 37, H = 2, K = efla_K, V = efla_V };

static double uniform(unsigned *state) {
  *state = *state * 1664525u + 1013904223u;
  return (*state >> 8) / 16777216.0;
}

int main(void) {
  const int64_t rows = (int64_t)B * T * H;
  float *q = malloc(sizeof(float) * rows * K), *k = malloc(sizeof(float) * rows * K);
  float *v = malloc(sizeof(float) * rows * V), *beta = malloc(sizeof(float) * rows);
  float *h0 = malloc(sizeof(float) * B * H * K * V);
  float *o = malloc(sizeof(float) * rows * V), *ht = malloc(sizeof(float) * B * H * K * V);
  double *S = malloc(sizeof(double) * K * V), *ref = malloc(sizeof(double) * rows * V);
  if (!q || !k || !v || !beta || !h0 || !o || !ht || !S || !ref) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  unsigned seed = 12345;
  for (int64_t i = 0; i < rows * K; ++i) {
    q[i] = (float)(uniform(&seed) - 0.5);
    k[i] = (float)(uniform(&seed) - 0.5); /* raw keys: EFLA needs no normalisation */
  }
  for (int64_t i = 0; i < rows * V; ++i)
    v[i] = (float)(uniform(&seed) - 0.5);
  for (int64_t i = 0; i < rows; ++i)
    beta[i] = (float)(0.1 + 0.9 * uniform(&seed));
  for (int64_t i = 0; i < (int64_t)B * H * K * V; ++i)
    h0[i] = (float)(0.1 * (uniform(&seed) - 0.5));

  efla_forward(q, k, v, beta, h0, o, ht, B, T, H, NULL, B);

  /* The exact flow in double: alpha = (1 - exp(-beta lam)) / lam. */
  double err = 0, norm = 0, herr = 0, hnorm = 0;
  const double scale = 1.0 / sqrt((double)K);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      for (int i = 0; i < K * V; ++i)
        S[i] = h0[((int64_t)b * H + h) * K * V + i];
      for (int t = 0; t < T; ++t) {
        int64_t row = ((int64_t)b * T + t) * H + h;
        const float *kk = k + row * K, *qq = q + row * K, *vv = v + row * V;
        double lam = 0;
        for (int i = 0; i < K; ++i)
          lam += (double)kk[i] * kk[i];
        double alpha = lam > 0 ? -expm1(-beta[row] * lam) / lam : beta[row];
        for (int j = 0; j < V; ++j) {
          double kS = 0;
          for (int i = 0; i < K; ++i)
            kS += kk[i] * S[i * V + j];
          for (int i = 0; i < K; ++i)
            S[i * V + j] += alpha * kk[i] * (vv[j] - kS);
        }
        for (int j = 0; j < V; ++j) {
          double acc = 0;
          for (int i = 0; i < K; ++i)
            acc += S[i * V + j] * qq[i];
          ref[row * V + j] = scale * acc;
        }
      }
      for (int i = 0; i < K * V; ++i) {
        double d = ht[((int64_t)b * H + h) * K * V + i] - S[i];
        herr += d * d;
        hnorm += S[i] * S[i];
      }
    }
  for (int64_t i = 0; i < rows * V; ++i) {
    double d = o[i] - ref[i];
    err += d * d;
    norm += ref[i] * ref[i];
  }
  double rel = sqrt(err / norm), hrel = sqrt(herr / hnorm);
  int ok = rel <= 1e-5 && hrel <= 1e-5;
  printf("efla_forward: B=%d T=%d H=%d K=%d V=%d, relative error o %.2e, ht %.2e: %s\n", B, T, H,
         K, V, rel, hrel, ok ? "ok" : "FAILED");
  free(q), free(k), free(v), free(beta), free(h0), free(o), free(ht), free(S), free(ref);
  return ok ? 0 : 1;
}
