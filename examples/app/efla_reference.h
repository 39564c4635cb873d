/* The EFLA recurrence in double precision, for the example apps to check a
 * generated kernel against: per (sequence, head) pair and token,
 *   alpha = (1 - exp(-beta lam)) / lam,  lam = |k|^2  (beta when lam = 0),
 *   S += alpha k (v^T - k^T S),  o = scale S^T q,  scale = 1 / sqrt(K).
 * Layouts as FLA's: q, k [B, T, H, K]; v, o [B, T, H, V]; beta [B, T, H];
 * h0, ht [B, H, K, V]. Returns 0, or -1 when out of memory. */
#ifndef EFLA_REFERENCE_H
#define EFLA_REFERENCE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static int efla_reference(int B, int T, int H, int K, int V, const float *q, const float *k,
                          const float *v, const float *beta, const float *h0, double *o, double *ht) {
  double *S = malloc(sizeof(double) * K * V);
  if (!S)
    return -1;
  const double scale = 1.0 / sqrt((double)K);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      int64_t state = ((int64_t)b * H + h) * K * V;
      for (int i = 0; i < K * V; ++i)
        S[i] = h0[state + i];
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
          o[row * V + j] = scale * acc;
        }
      }
      for (int i = 0; i < K * V; ++i)
        ht[state + i] = S[i];
    }
  free(S);
  return 0;
}

/* |x - r| / |r| over n values. */
static double efla_relative_error(const float *x, const double *r, int64_t n) {
  double err = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = x[i] - r[i];
    err += d * d;
    norm += r[i] * r[i];
  }
  return sqrt(err / (norm > 0 ? norm : 1));
}

/* A small deterministic generator for the apps' inputs, in [0, 1). */
static double efla_uniform(unsigned *state) {
  *state = *state * 1664525u + 1013904223u;
  return (*state >> 8) / 16777216.0;
}

/* Fills the apps' inputs: q, v uniform in [-0.5, 0.5), raw keys uniform in
 * [-key_scale/2, key_scale/2), beta in [0.1, 1), h0 in [-0.05, 0.05). */
static void efla_fill_inputs(unsigned seed, double key_scale, int64_t rows, int K, int V, int64_t states,
                             float *q, float *k, float *v, float *beta, float *h0) {
  for (int64_t i = 0; i < rows * K; ++i) {
    q[i] = (float)(efla_uniform(&seed) - 0.5);
    k[i] = (float)(key_scale * (efla_uniform(&seed) - 0.5));
  }
  for (int64_t i = 0; i < rows * V; ++i)
    v[i] = (float)(efla_uniform(&seed) - 0.5);
  for (int64_t i = 0; i < rows; ++i)
    beta[i] = (float)(0.1 + 0.9 * efla_uniform(&seed));
  for (int64_t i = 0; i < states; ++i)
    h0[i] = (float)(0.1 * (efla_uniform(&seed) - 0.5));
}

#endif
