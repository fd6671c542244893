/* select_bench.c: deita_filter's selection alone (no host), and its tile kernel's GFLOP/s.
 *   cc -std=c11 -O2 -I Sources/CPipelineABI/include -o /tmp/select_bench Tests/bench/deita-filter/select_bench.c -pthread -lm
 *   /tmp/select_bench kernel | random N BUDGET [THRESHOLD] | clustered N BUDGET [THRESHOLD] | distilabel N BUDGET [THRESHOLD]
 * Prints the selection's hash (compare kernels with DEITA_FILTER_KERNEL=portable|avx2|avx512), wall and CPU time. */
#include "../../../Plugins/deita_filter/deita_filter.c"
#include <sys/resource.h>

static void hlog(const pipeline_call *c, int32_t l, const char *m, size_t n) { (void)c; (void)l; fprintf(stderr, "%.*s\n", (int)n, m); }
static void herr(pipeline_call *c, pipeline_status s, const char *m, size_t n) { (void)c; (void)s; fprintf(stderr, "ERR %.*s\n", (int)n, m); }
static bool hcanc(const pipeline_call *c) { (void)c; return false; }
static pipeline_host H;

static uint64_t rs = 88172645463325252ULL;
static double unif(void) { rs ^= rs >> 12; rs ^= rs << 25; rs ^= rs >> 27; return (double)((rs * 2685821657736338717ULL) >> 11) / 9007199254740992.0; }
static double gauss(void) { double u = unif() + 1e-300, v = unif(); return sqrt(-2 * log(u)) * cos(2 * M_PI * v); }
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "random";
  int64_t n = argc > 2 ? atoll(argv[2]) : 100000, budget = argc > 3 ? atoll(argv[3]) : 10000;
  int d = 384;
  H.log = hlog; H.set_error = herr; H.is_cancelled = hcanc; g_host = &H;
  if (strcmp(mode, "kernel") == 0) { /* single-thread tile GFLOP/s */
    kernel kn = pick_kernel();
    size_t dp = 384; int np = 256;
    float *A = aligned_floats(kn.mr * dp), *B = aligned_floats(np * kn.nr * dp), C[DF_MAX_MR * DF_MAX_NR], rm[DF_MAX_MR];
    for (size_t i = 0; i < kn.mr * dp; i++) A[i] = (float)unif();
    for (size_t i = 0; i < np * kn.nr * dp; i++) B[i] = (float)unif();
    double best = 1e9;
    for (int rep = 0; rep < 20; rep++) {
      double t0 = cpu();
      for (int it = 0; it < 4; it++) for (int p = 0; p < np; p++) kn.tile(A, B + p * kn.nr * dp, dp, C, rm);
      double t = cpu() - t0; if (t < best) best = t;
    }
    printf("%s %dx%d: %.1f GFLOP/s (1 thread, B %zu KB)\n", kn.name, kn.mr, kn.nr, 4.0 * np * kn.mr * kn.nr * dp * 2 / best / 1e9, np * kn.nr * dp * 4 / 1024);
    return 0;
  }
  deita *s = calloc(1, sizeof *s);
  s->d = d; s->dp = 384; s->budget = budget; s->threshold = argc > 4 ? atof(argv[4]) : 0.1; s->n = n;
  s->raw = aligned_floats(n * 384); s->inv_norm = malloc(n * 4); s->score = malloc(n * 8);
  int clustered = strcmp(mode, "clustered") == 0;
  int64_t nc = n / 10;
  float *cent = clustered ? malloc(nc * d * 4) : NULL;
  if (clustered) for (int64_t c = 0; c < nc; c++) { double nn = 0; for (int k = 0; k < d; k++) { cent[c*d+k] = gauss(); nn += cent[c*d+k]*cent[c*d+k]; } for (int k = 0; k < d; k++) cent[c*d+k] /= sqrt(nn); }
  for (int64_t i = 0; i < n; i++) {
    float *x = s->raw + i * 384; double nn = 0;
    for (int k = 0; k < d; k++) { x[k] = clustered ? cent[(i % nc) * d + k] + 0.05 / sqrt(d) * gauss() : gauss(); nn += (double)x[k] * x[k]; }
    for (int k = 0; k < d; k++) x[k] /= sqrt(nn);
    s->inv_norm[i] = 1.0f; s->score[i] = (1 + 5 * unif()) * (1 + 5 * unif());
  }
  int64_t *order = malloc(n * 8);
  for (int64_t i = 0; i < n; i++) order[i] = i;
  sort_by_score(s->score, n, order);
  setenv("DEITA_FILTER_TIMING", "1", 1);
  double t0 = now_s(), c0 = cpu();
  pipeline_status st = strcmp(mode, "distilabel") == 0 ? select_distilabel(NULL, s, order) : select_paper(NULL, s, order);
  double t1 = now_s(), c1 = cpu();
  uint64_t h = 1469598103934665603ULL;
  for (int64_t i = 0; i < s->n_sel; i++) { h ^= (uint64_t)s->sel[i]; h *= 1099511628211ULL; }
  printf("%s n=%lld budget=%lld: status %d, %lld selected (hash %016llx), wall %.3f s, cpu %.3f s\n", mode, (long long)n, (long long)budget, st, (long long)s->n_sel, (unsigned long long)h, t1 - t0, c1 - c0);
  return 0;
}
