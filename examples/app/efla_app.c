/* A C program that links a deltac-generated EFLA kernel (CPU object file) and
 * checks it against a plain double-precision recurrence.
 *
 *   deltac compile examples/efla.delta --emit=object -o efla.o
 *   deltac compile examples/efla.delta --emit=header -o efla.h
 *   cc -O2 -I. examples/app/efla_app.c efla.o -lm -o efla_app && ./efla_app
 */
#include "efla.h"
#include "efla_reference.h"

#include <stdio.h>

enum { B = 2, T = 37, H = 2, K = efla_K, V = efla_V };

int main(void) {
  const int64_t rows = (int64_t)B * T * H, states = (int64_t)B * H * K * V;
  float *q = malloc(sizeof(float) * rows * K), *k = malloc(sizeof(float) * rows * K);
  float *v = malloc(sizeof(float) * rows * V), *beta = malloc(sizeof(float) * rows);
  float *h0 = malloc(sizeof(float) * states);
  float *o = malloc(sizeof(float) * rows * V), *ht = malloc(sizeof(float) * states);
  double *ref = malloc(sizeof(double) * rows * V), *refHt = malloc(sizeof(double) * states);
  if (!q || !k || !v || !beta || !h0 || !o || !ht || !ref || !refHt) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  efla_fill_inputs(12345, 1.0, rows, K, V, states, q, k, v, beta, h0); /* raw keys: EFLA needs no normalisation */

  efla_forward(q, k, v, beta, h0, o, ht, B, T, H, NULL, B);

  if (efla_reference(B, T, H, K, V, q, k, v, beta, h0, ref, refHt) != 0) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  double rel = efla_relative_error(o, ref, rows * V), hrel = efla_relative_error(ht, refHt, states);
  int ok = rel <= 1e-5 && hrel <= 1e-5;
  printf("efla_forward: B=%d T=%d H=%d K=%d V=%d, relative error o %.2e, ht %.2e: %s\n", B, T, H,
         K, V, rel, hrel, ok ? "ok" : "FAILED");
  free(q), free(k), free(v), free(beta), free(h0), free(o), free(ht), free(ref), free(refHt);
  return ok ? 0 : 1;
}
