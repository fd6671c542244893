/* gen.c: benchmark data for deita_filter (no numpy needed).
 *
 *   gen KIND N D SEED OUT_PREFIX [inline]
 *
 * KIND random:    N random unit vectors (Gaussian, normalised).
 * KIND clustered: N/10 random unit centres, 10 tight members each (noise of
 *                 norm ~0.05, so cosine ~0.999 inside a cluster); rows of a
 *                 cluster are spread over the file (row i -> cluster i % (N/10)).
 * Writes OUT_PREFIX.npy (float32, N x D, C order), OUT_PREFIX.jsonl (id,
 * complexity_score, quality_score, uniform in [1, 6)), and with "inline"
 * OUT_PREFIX-inline.jsonl: the same rows with an "embedding" array of the
 * same float32 values (%.9g, exact round trip).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t st;
static uint64_t next(void) {
  st ^= st >> 12; st ^= st << 25; st ^= st >> 27;
  return st * 2685821657736338717ULL;
}
static double unif(void) { return (double)(next() >> 11) * (1.0 / 9007199254740992.0); }
static double gauss(void) {
  double u = unif(), v = unif();
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}
static void unit(float *x, int d) {
  double n = 0;
  for (int k = 0; k < d; k++) { x[k] = (float)gauss(); n += (double)x[k] * x[k]; }
  n = 1 / sqrt(n);
  for (int k = 0; k < d; k++) x[k] = (float)(x[k] * n);
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: gen random|clustered N D SEED OUT_PREFIX [inline]\n"); return 2; }
  int clustered = strcmp(argv[1], "clustered") == 0;
  long n = atol(argv[2]); int d = atoi(argv[3]); st = (uint64_t)atoll(argv[4]) * 0x9E3779B97F4A7C15ULL + 1;
  const char *pre = argv[5]; int inl = argc > 6 && strcmp(argv[6], "inline") == 0;
  char path[4096];
  snprintf(path, sizeof path, "%s.npy", pre);
  FILE *npy = fopen(path, "wb");
  snprintf(path, sizeof path, "%s.jsonl", pre);
  FILE *js = fopen(path, "w");
  FILE *il = NULL;
  if (inl) { snprintf(path, sizeof path, "%s-inline.jsonl", pre); il = fopen(path, "w"); }
  if (!npy || !js || (inl && !il)) { perror("open"); return 1; }
  /* .npy v1.0 header, padded so that the data starts at a multiple of 64. */
  char hdr[256];
  int hl = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %d), }", n, d);
  int total = 10 + hl + 1;
  int pad = (64 - total % 64) % 64;
  fwrite("\x93NUMPY\x01\x00", 1, 8, npy);
  uint16_t len = (uint16_t)(hl + pad + 1);
  unsigned char lb[2] = {(unsigned char)(len & 0xff), (unsigned char)(len >> 8)};
  fwrite(lb, 1, 2, npy);
  fwrite(hdr, 1, (size_t)hl, npy);
  for (int i = 0; i < pad; i++) fputc(' ', npy);
  fputc('\n', npy);
  long nc = clustered ? (n + 9) / 10 : 0;
  float *centres = NULL;
  if (clustered) {
    centres = malloc((size_t)nc * (size_t)d * sizeof(float));
    for (long c = 0; c < nc; c++) unit(centres + (size_t)c * d, d);
  }
  float *x = malloc((size_t)d * sizeof(float));
  for (long i = 0; i < n; i++) {
    if (clustered) {
      const float *c = centres + (size_t)(i % nc) * d;
      double s = 0.05 / sqrt((double)d), nn = 0;
      for (int k = 0; k < d; k++) { x[k] = (float)(c[k] + s * gauss()); nn += (double)x[k] * x[k]; }
      nn = 1 / sqrt(nn);
      for (int k = 0; k < d; k++) x[k] = (float)(x[k] * nn);
    } else {
      unit(x, d);
    }
    fwrite(x, sizeof(float), (size_t)d, npy);
    double cs = 1 + 5 * unif(), qs = 1 + 5 * unif();
    fprintf(js, "{\"id\": %ld, \"complexity_score\": %.6f, \"quality_score\": %.6f}\n", i, cs, qs);
    if (il) {
      fprintf(il, "{\"id\": %ld, \"complexity_score\": %.6f, \"quality_score\": %.6f, \"embedding\": [", i, cs, qs);
      for (int k = 0; k < d; k++) fprintf(il, k ? ",%.9g" : "%.9g", (double)x[k]);
      fputs("]}\n", il);
    }
  }
  fclose(npy); fclose(js); if (il) fclose(il);
  return 0;
}
