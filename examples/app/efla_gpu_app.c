/* A C program that runs a deltac-generated EFLA GPU kernel embedded in a
 * header (no file is read at run time) and checks it against a plain
 * double-precision recurrence. It needs no CUDA headers: device memory goes
 * through libdeltart, which loads the CUDA driver at run time; on a machine
 * without one it prints the runtime's message and exits with status 2.
 *
 *   deltac compile examples/efla.delta --dtype f32 --emit=gpu-header -o efla_gpu.h
 *   cc -O2 -I. -Iruntime/include examples/app/efla_gpu_app.c libdeltart.a -lstdc++ -ldl -lm
 */
#include "efla_gpu.h"
#include "efla_reference.h"

#include <stdio.h>

enum { B = 2, T = 150, H = 2, K = efla_gpu_K, V = efla_gpu_V };

/* Prints the runtime's message for a failed call and says which. */
static int failed(deltart_status s, const char *what) {
  fprintf(stderr, "%s failed (%s): %s\n", what, deltart_status_string(s), deltart_last_error());
  return s == DELTART_ERROR_NO_DRIVER || s == DELTART_ERROR_NO_DEVICE ? 2 : 1;
}

int main(void) {
  const int64_t rows = (int64_t)B * T * H, states = (int64_t)B * H * K * V;
  const size_t bytes[7] = {rows * K * 4, rows * K * 4, rows * V * 4, rows * 4, states * 4, rows * V * 4,
                           states * 4};
  float *host[7];
  for (int i = 0; i < 7; ++i)
    if (!(host[i] = malloc(bytes[i]))) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
  float *q = host[0], *k = host[1], *v = host[2], *beta = host[3], *h0 = host[4], *o = host[5], *ht = host[6];
  efla_fill_inputs(2024, 2.0, rows, K, V, states, q, k, v, beta, h0); /* raw keys, |k| about 6.5 */
  for (int64_t i = 0; i < rows * V; ++i)
    o[i] = NAN; /* poisoned: whatever the kernel leaves unwritten stays NaN */
  for (int64_t i = 0; i < states; ++i)
    ht[i] = NAN;

  uint64_t dev[7] = {0};
  deltart_status s;
  for (int i = 0; i < 7; ++i) {
    if ((s = deltart_device_alloc(&dev[i], bytes[i])) != DELTART_OK)
      return failed(s, "deltart_device_alloc");
    if ((s = deltart_copy_to_device(dev[i], host[i], bytes[i])) != DELTART_OK)
      return failed(s, "deltart_copy_to_device");
  }
  if ((s = efla_gpu_forward(dev[0], dev[1], dev[2], dev[3], dev[4], dev[5], dev[6], B, T, H, 0, B, NULL)) !=
      DELTART_OK)
    return failed(s, "efla_gpu_forward");
  if ((s = deltart_synchronize()) != DELTART_OK)
    return failed(s, "deltart_synchronize");
  if ((s = deltart_copy_to_host(o, dev[5], bytes[5])) != DELTART_OK ||
      (s = deltart_copy_to_host(ht, dev[6], bytes[6])) != DELTART_OK)
    return failed(s, "deltart_copy_to_host");
  for (int i = 0; i < 7; ++i)
    deltart_device_free(dev[i]);

  double *ref = malloc(sizeof(double) * rows * V), *refHt = malloc(sizeof(double) * states);
  if (!ref || !refHt || efla_reference(B, T, H, K, V, q, k, v, beta, h0, ref, refHt) != 0) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  /* The kernel's products take f16 operands with f32 accumulation. */
  double rel = efla_relative_error(o, ref, rows * V), hrel = efla_relative_error(ht, refHt, states);
  int ok = rel <= 5e-3 && hrel <= 5e-3; /* NaN compares false: a NaN fails */
  printf("efla_gpu_forward: B=%d T=%d H=%d K=%d V=%d, relative error o %.2e, ht %.2e: %s\n", B, T, H, K,
         V, rel, hrel, ok ? "ok" : "FAILED");
  for (int i = 0; i < 7; ++i)
    free(host[i]);
  free(ref), free(refHt);
  return ok ? 0 : 1;
}
