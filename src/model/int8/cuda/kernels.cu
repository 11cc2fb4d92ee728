// The integer engine on CUDA: the same integers as the CPU engine (src/model/int8/ops.rs,
// docs/FORMAT.md), one kernel per step. Signed additions that the CPU code performs with
// wrapping are done here on unsigned values, so no step relies on signed overflow; reductions
// are integer sums and maxima, whose results do not depend on the order they are taken in.

typedef long long i64;
typedef unsigned long long u64;
typedef signed char i8;
typedef short i16;
#define LLONG_MIN (-9223372036854775807LL - 1)
#define INT_MIN (-2147483647 - 1)

__device__ __forceinline__ i64 rshift(i64 x, int s) {
    if (s == 0) return x;
    return (i64)((u64)x + (1ull << (s - 1))) >> s;
}

__device__ __forceinline__ i64 requant(int acc, int m, i64 b, int s) {
    return rshift((i64)((u64)((i64)acc * (i64)m) + (u64)b), s);
}

__device__ __forceinline__ i64 clampl(i64 x, i64 l) { return x < -l ? -l : (x > l ? l : x); }

__device__ __forceinline__ u64 exp2neg(i64 t, const unsigned* tab) {
    i64 ip = t >> 10;
    if (ip >= 31) return 0;
    return (u64)(tab[t & 1023] >> ip);
}

__device__ __forceinline__ int bitlen64(u64 x) { return 64 - __clzll((i64)x); }

__device__ u64 isqrt_u64(u64 n) {
    u64 r = (u64)sqrt((double)n);
    while (r > 0 && r * r > n) r--;
    while ((r + 1) * (r + 1) <= n) r++;
    return r;
}

// The sum of `v` over a warp (modulo 2^64), in every lane.
__device__ __forceinline__ u64 warp_sum(u64 v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Block-wide reductions without atomics: a warp's values combined by shuffles, then the
// warps' results from shared memory (`scratch`: one slot per warp, at most 32). Integer
// sums (modulo 2^64) and maxima do not depend on the order they are taken in, so these give
// the values the CPU's loops give. Every thread of the block must call them (blockDim.x a
// multiple of 32); every thread gets the result.
__device__ __forceinline__ u64 block_sum(u64 v, u64* scratch) {
    v = warp_sum(v);
    __syncthreads();  // an earlier reduction may still be reading `scratch`
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    u64 s = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) s += scratch[w];
    return s;
}

__device__ __forceinline__ i64 block_max(i64 v, u64* scratch) {
    for (int o = 16; o > 0; o >>= 1) {
        i64 u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = (u64)v;
    __syncthreads();
    i64 m = (i64)scratch[0];
    for (int w = 1; w < (int)(blockDim.x >> 5); w++) m = (i64)scratch[w] > m ? (i64)scratch[w] : m;
    return m;
}

// out kinds: 0 = i8, 1 = i16, 2 = i32; `lim` is the clamp
__device__ __forceinline__ void store(void* out, i64 idx, int kind, i64 v) {
    if (kind == 0) ((i8*)out)[idx] = (i8)v;
    else if (kind == 1) ((i16*)out)[idx] = (i16)v;
    else ((int*)out)[idx] = (int)v;
}

extern "C" __global__ void embed(const int* ids, const int* posi, const i8* word, const int* word_m,
                                 const i8* pos, const int* pos_m, int H, int* e) {
    int r = blockIdx.x;
    int id = ids[r], p = posi[r];
    for (int c = threadIdx.x; c < H; c += blockDim.x)
        e[(i64)r * H + c] = (int)word[(i64)id * H + c] * word_m[id] + (int)pos[(i64)p * H + c] * pos_m[p];
}

// LayerNorm (ops.rs `layer_norm`), one warp per row (8 rows per 256-thread block): sums and
// the maximum by shuffles only, no block barrier.
extern "C" __global__ void layer_norm_w(const int* x, int H, const int* g, const i64* b, int shift, i64 eps,
                                        int kind, i64 lim, void* out, int rows) {
    int lane = threadIdx.x & 31;
    int rw = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (rw >= rows) return;  // a whole warp leaves together
    const int* xr = x + (i64)rw * H;
    unsigned m = 0;
    for (int c = lane; c < H; c += 32) {
        i64 v = xr[c];
        unsigned a = (unsigned)(v < 0 ? -v : v);
        m = a > m ? a : m;
    }
    for (int o = 16; o > 0; o >>= 1) {
        unsigned u = __shfl_xor_sync(0xffffffffu, m, o);
        m = u > m ? u : m;
    }
    int bl = 32 - __clz((int)m);
    int k = bl > 15 ? bl - 15 : 0;
    i64 part = 0;
    for (int c = lane; c < H; c += 32) part += rshift(xr[c], k);
    i64 sum = (i64)warp_sum((u64)part);
    u64 sq = 0;
    for (int c = lane; c < H; c += 32) {
        i64 d = (i64)H * rshift(xr[c], k) - sum;
        sq += (u64)(d * d);
    }
    u64 ssq = warp_sum(sq);
    i64 r = 0;
    if (lane == 0) {
        i64 e = 2 * k >= 63 ? 0 : rshift(eps, 2 * k);
        i64 sd = (i64)isqrt_u64((u64)((i64)ssq / H + e));
        r = sd == 0 ? 0 : (1ll << 46) / sd;
    }
    r = __shfl_sync(0xffffffffu, r, 0);
    for (int c = lane; c < H; c += 32) {
        i64 d = (i64)H * rshift(xr[c], k) - sum;
        i64 nq = rshift(d * r, 30);
        store(out, (i64)rw * H + c, kind, clampl(rshift(nq * g[c] + b[c], shift), lim));
    }
}

// GEMM out[i][j] = Σ_t A[i][t]·W[j][t] with an epilogue:
// mode 0: raw i32; 1: requant, clamp, store `kind`; 2: requant, clamp ±2^30, add to the
// residual x (int) and clamp; 3: requant, clamp ±2^30, GELU table, clamp, store `kind`.
#define GEMM_ARGS const i8 *W, int M, int N, int K, int mode, const int *m, const i64 *b, int shift, int kind, \
                  i64 lim, void *out, const i16 *gtab, int ghalf, int glin_m, int glin_shift
#define GEMM_PASS W, M, N, K, mode, m, b, shift, kind, lim, out, gtab, ghalf, glin_m, glin_shift
#define EPI_ARGS int mode, const int *m, const i64 *b, int shift, int kind, i64 lim, void *out, const i16 *gtab, \
                 int ghalf, int glin_m, int glin_shift
#define EPI_PASS mode, m, b, shift, kind, lim, out, gtab, ghalf, glin_m, glin_shift

__device__ __forceinline__ void epilogue(int i, int j, int N, int acc, EPI_ARGS) {
    i64 idx = (i64)i * N + j;
    if (mode == 0) { ((int*)out)[idx] = acc; return; }
    i64 y = requant(acc, m[j], b[j], shift);
    if (mode == 1) { store(out, idx, kind, clampl(y, lim)); return; }
    y = clampl(y, 1ll << 30);
    if (mode == 2) { int* x = (int*)out; x[idx] = (int)clampl((i64)x[idx] + y, 1ll << 30); return; }
    i64 gv = y < -ghalf ? (i64)gtab[0] : (y > ghalf ? rshift(y * glin_m, glin_shift) : (i64)gtab[y + ghalf]);
    store(out, idx, kind, clampl(gv, lim));
}

// The simple kernel: one thread per output, operands widened to int in shared memory.
#define TILE 16
#define KT 64

template <typename TA>
__device__ void gemm_body(const TA* A, GEMM_ARGS) {
    __shared__ int as[TILE][KT];
    __shared__ int ws[TILE][KT];
    int tx = threadIdx.x, ty = threadIdx.y;
    int i = blockIdx.y * TILE + ty, j = blockIdx.x * TILE + tx;
    int acc = 0;
    for (int t0 = 0; t0 < K; t0 += KT) {
        for (int t = tx; t < KT; t += TILE) {
            int ar = blockIdx.y * TILE + ty, wr = blockIdx.x * TILE + ty;
            as[ty][t] = (ar < M && t0 + t < K) ? (int)A[(i64)ar * K + t0 + t] : 0;
            ws[ty][t] = (wr < N && t0 + t < K) ? (int)W[(i64)wr * K + t0 + t] : 0;
        }
        __syncthreads();
        for (int t = 0; t < KT; t++) acc = (int)((unsigned)acc + (unsigned)(as[ty][t] * ws[tx][t]));
        __syncthreads();
    }
    if (i >= M || j >= N) return;
    epilogue(i, j, N, acc, EPI_PASS);
}

extern "C" __global__ void gemm_i8(const i8* A, GEMM_ARGS) { gemm_body<i8>(A, GEMM_PASS); }
extern "C" __global__ void gemm_i16(const i16* A, GEMM_ARGS) { gemm_body<i16>(A, GEMM_PASS); }

// The dp4a kernels: four byte products summed into an int32 per instruction, 16 × 16 threads
// each computing R × R outputs of a 16R × 16R tile. dp4a adds modulo 2^32 like the CPU's
// wrapping sums, so the accumulators are the same integers. int16 operands are split into a
// signed high byte and an unsigned low byte: a·w = 256·hi·w + lo·w, two dp4a per word.

__device__ __forceinline__ int dp4a_ss(int a, int b, int c) {
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

__device__ __forceinline__ int dp4a_us(int a, int b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// Four consecutive int8 values of row `r` from column `k` as one word (zeros past the edges).
__device__ __forceinline__ int word_i8(const i8* A, int r, int k, int rows, int K) {
    if (r >= rows) return 0;
    const i8* p = A + (i64)r * K + k;
    if ((K & 3) == 0 && k + 3 < K) return *(const int*)p;
    unsigned w = 0;
    for (int e = 0; e < 4; e++)
        if (k + e < K) w |= (unsigned)(unsigned char)p[e] << (8 * e);
    return (int)w;
}

// Four consecutive int16 values as their low bytes (`lo`) and high bytes (`hi`).
__device__ __forceinline__ void words_i16(const i16* A, int r, int k, int rows, int K, int& lo, int& hi) {
    unsigned x = 0, y = 0;
    if (r < rows) {
        const i16* p = A + (i64)r * K + k;
        if ((K & 3) == 0 && k + 3 < K) {
            int2 v = *(const int2*)p;
            x = (unsigned)v.x;
            y = (unsigned)v.y;
        } else {
            unsigned s[4] = {0, 0, 0, 0};
            for (int e = 0; e < 4; e++)
                if (k + e < K) s[e] = (unsigned)(unsigned short)p[e];
            x = s[0] | (s[1] << 16);
            y = s[2] | (s[3] << 16);
        }
    }
    lo = (int)__byte_perm(x, y, 0x6420);
    hi = (int)__byte_perm(x, y, 0x7531);
}

// KW: words of the inner dimension per step (4·KW bytes). The 64 × 64 tiles take 16; the
// 32 × 32 tiles, chosen when there are few rows and so few blocks, take 64: a quarter of the
// steps (each a round of loads and two barriers), which bound a small product's time.
__host__ __device__ constexpr int k_words(int R) { return R == 2 ? 64 : 16; }

template <int R, bool WIDE, int KW = k_words(R)>
__device__ void gemm_dp4a_body(const void* A, GEMM_ARGS) {
    const int BM = 16 * R;
    __shared__ int as[KW][BM + 1];
    __shared__ int ah[WIDE ? KW : 1][WIDE ? BM + 1 : 1];
    __shared__ int ws[KW][BM + 1];
    int tx = threadIdx.x, ty = threadIdx.y, l = ty * 16 + tx;
    int r0 = blockIdx.y * BM, c0 = blockIdx.x * BM;
    int acc[R][R], acch[R][R];
#pragma unroll
    for (int a = 0; a < R; a++)
#pragma unroll
        for (int c = 0; c < R; c++) acc[a][c] = acch[a][c] = 0;
    for (int t0 = 0; t0 < K; t0 += 4 * KW) {
        for (int e = l; e < BM * KW; e += 256) {
            int row = e / KW, kw = e % KW;
            if (WIDE) {
                int lo, hi;
                words_i16((const i16*)A, r0 + row, t0 + 4 * kw, M, K, lo, hi);
                as[kw][row] = lo;
                ah[kw][row] = hi;
            } else {
                as[kw][row] = word_i8((const i8*)A, r0 + row, t0 + 4 * kw, M, K);
            }
            ws[kw][row] = word_i8(W, c0 + row, t0 + 4 * kw, N, K);
        }
        __syncthreads();
#pragma unroll 4
        for (int kw = 0; kw < KW; kw++) {
            int wv[R];
#pragma unroll
            for (int c = 0; c < R; c++) wv[c] = ws[kw][tx + 16 * c];
#pragma unroll
            for (int a = 0; a < R; a++) {
                int av = as[kw][ty + 16 * a];
                int hv = WIDE ? ah[kw][ty + 16 * a] : 0;
#pragma unroll
                for (int c = 0; c < R; c++) {
                    if (WIDE) {
                        acc[a][c] = dp4a_us(av, wv[c], acc[a][c]);
                        acch[a][c] = dp4a_ss(hv, wv[c], acch[a][c]);
                    } else {
                        acc[a][c] = dp4a_ss(av, wv[c], acc[a][c]);
                    }
                }
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < R; a++)
#pragma unroll
        for (int c = 0; c < R; c++) {
            int i = r0 + ty + 16 * a, j = c0 + tx + 16 * c;
            if (i < M && j < N) {
                int s = (int)((unsigned)acc[a][c] + ((unsigned)acch[a][c] << 8));
                epilogue(i, j, N, s, EPI_PASS);
            }
        }
}

extern "C" __global__ void __launch_bounds__(256) gemm4_i8(const i8* A, GEMM_ARGS) {
    gemm_dp4a_body<4, false>(A, GEMM_PASS);
}
extern "C" __global__ void __launch_bounds__(256) gemm4_i16(const i16* A, GEMM_ARGS) {
    gemm_dp4a_body<4, true>(A, GEMM_PASS);
}
extern "C" __global__ void __launch_bounds__(256) gemm2_i8(const i8* A, GEMM_ARGS) {
    gemm_dp4a_body<2, false>(A, GEMM_PASS);
}
extern "C" __global__ void __launch_bounds__(256) gemm2_i16(const i16* A, GEMM_ARGS) {
    gemm_dp4a_body<2, true>(A, GEMM_PASS);
}

// One block per (query, head): scores against every key of the query's sequence, integer
// softmax (units 2^-14), and the context of the head's columns (int8).
extern "C" __global__ void attention(const i8* q, const i8* k, const i8* v, int H, int hd, const int* qrow,
                                     const int* kstart, const int* klen, i64 score_m, int score_shift,
                                     const unsigned* exp2, i8* ctx) {
    extern __shared__ i64 z[];
    __shared__ u64 scratch[32];
    int qi = blockIdx.x, c0 = blockIdx.y * hd;
    int row = qrow[qi], s0 = kstart[qi], n = klen[qi];
    long long mx = LLONG_MIN;
    // four bytes a load and a dp4a where the rows' columns are word-aligned: the same sum
    bool words = (H & 3) == 0 && (hd & 3) == 0 && (c0 & 3) == 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        int acc = 0;
        if (words) {
            const int* qw = (const int*)(q + (i64)row * H + c0);
            const int* kw = (const int*)(k + (i64)(s0 + j) * H + c0);
            for (int d = 0; d < hd / 4; d++) acc = dp4a_ss(qw[d], kw[d], acc);
        } else {
            for (int d = 0; d < hd; d++) acc += (int)q[(i64)row * H + c0 + d] * (int)k[(i64)(s0 + j) * H + c0 + d];
        }
        z[j] = rshift((i64)acc * score_m, score_shift);
        mx = z[j] > mx ? z[j] : mx;
    }
    i64 smx = block_max(mx, scratch);
    u64 part = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) part += exp2neg(smx - z[j], exp2);
    u64 ssum = block_sum(part, scratch);
    u64 sum = ssum > 0 ? ssum : 1;
    i64 r = (i64)((1ull << 62) / sum);
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        i64 e = (i64)exp2neg(smx - z[j], exp2);
        z[j] = (i64)(i16)rshift(e * r, 48);
    }
    __syncthreads();
    // the context: with blockDim ≥ 2·hd, `parts` threads per column each sum every
    // parts-th key, then one adds their sums (modulo 2^32, as the single loop does)
    int parts = hd <= (int)blockDim.x ? (int)blockDim.x / hd : 1;
    if (parts > 1) {
        __shared__ unsigned red[1024];
        int t = threadIdx.x, d = t % hd, p = t / hd;
        if (p < parts) {
            unsigned acc = 0;
            for (int j = p; j < n; j += parts) acc += (unsigned)((int)z[j] * (int)v[(i64)(s0 + j) * H + c0 + d]);
            red[t] = acc;
        }
        __syncthreads();
        if (t < hd) {
            unsigned acc = 0;
            for (int e = 0; e < parts; e++) acc += red[e * hd + t];
            ctx[(i64)qi * H + c0 + t] = (i8)clampl(rshift((int)acc, 14), 127);
        }
        return;
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        int acc = 0;
        for (int j = 0; j < n; j++) acc = (int)((unsigned)acc + (unsigned)((int)z[j] * (int)v[(i64)(s0 + j) * H + c0 + d]));
        ctx[(i64)qi * H + c0 + d] = (i8)clampl(rshift(acc, 14), 127);
    }
}

// The K/V cache's moves (cache.rs): row i of `src` to row `base + rows[i]` of `dst`, and rows
// `from[i]` to `to[i]` within one pool.

extern "C" __global__ void copy_rows(i8* pool, int H, const int* from, const int* to) {
    int i = blockIdx.x;
    for (int c = threadIdx.x; c < H; c += blockDim.x) pool[(i64)to[i] * H + c] = pool[(i64)from[i] * H + c];
}

extern "C" __global__ void gather_rows(const int* x, int H, const int* rows, int* out) {
    int i = blockIdx.x;
    for (int c = threadIdx.x; c < H; c += blockDim.x) out[(i64)i * H + c] = x[(i64)rows[i] * H + c];
}

extern "C" __global__ void log_softmax(const int* acc, int V, const int* m, const i64* b, int shift,
                                       const unsigned* exp2, const unsigned* log2t, int* logits, float* out) {
    __shared__ u64 scratch[32];
    __shared__ i64 sc;
    i64 row = blockIdx.x;
    const int* a = acc + row * V;
    int* l = logits + row * V;
    int mx = INT_MIN;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        l[j] = (int)clampl(requant(a[j], m[j], b[j], shift), 1ll << 30);
        mx = l[j] > mx ? l[j] : mx;
    }
    int smx = (int)block_max(mx, scratch);
    u64 part = 0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) part += exp2neg(rshift((i64)smx - l[j], 6), exp2);
    u64 ssum = block_sum(part, scratch);
    if (threadIdx.x == 0) {
        u64 s = ssum;
        int bl = bitlen64(s);
        int bb = (bl > 31 ? bl : 31) - 1;
        i64 frac = (i64)(s - (1ull << bb));
        i64 lse = ((i64)(bb - 30) << 16) + (i64)log2t[rshift(frac, bb - 12)];
        sc = (i64)smx + lse;
    }
    __syncthreads();
    float kf = __int_as_float(0x37317218);
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        i64 lp = (i64)l[j] - sc;
        lp = lp < -(1ll << 24) ? -(1ll << 24) : lp;
        out[row * V + j] = __fmul_rn(__ll2float_rn(lp), kf);
    }
}

// The context mixer's e^x (src/coding/cm/math.rs `exp`): the same operations in the same
// order, and this file is compiled without fused multiply-adds, so the same bits. The
// constants are the f32 values Rust computes for LOG2_E, LN2_HI, LN2_LO and 1/6 … 1/720.
__device__ __forceinline__ float cm_exp(float x) {
    x = fminf(fmaxf(x, -87.0f), 88.0f);
    const float log2e = __uint_as_float(0x3fb8aa3bu), ln2_hi = __uint_as_float(0x3f317200u);
    const float ln2_lo = __uint_as_float(0x35bfbe8eu), round = 12582912.0f;
    float k = (x * log2e + round) - round;
    float r = (x - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (__uint_as_float(0x3e2aaaabu) + r * (__uint_as_float(0x3d2aaaabu)
              + r * (__uint_as_float(0x3c088889u) + r * __uint_as_float(0x3ab60b61u))))));
    unsigned two_k = (__float_as_uint(k + 8388735.0f) - 0x4B000000u) << 23;
    return p * __uint_as_float(two_k);
}

// A row of log-probabilities in ranked form (src/coding/cm/ranked.rs `ranked_row`): e^lp at
// each id's rank, then for each tree node m at depths 1 … `depth` the sum of its ranks' range
// [lo, hi) clipped to V, as the coding thread sums it (tree.rs `sums`): eight running sums,
// value i to sum (i − lo) mod 8 in order, combined pairwise. One block per row; a node's eight
// sums are eight threads (blockDim.x ≥ 8 × nodes).
// With `shared` the sums read the row from the block's shared memory (V floats of dynamic
// shared memory), else from its global copy: the same values either way.
extern "C" __global__ void rank_rows(const float* lp, int V, const int* rank, int bits, int depth, int v3,
                                     float* out, int R, int shared) {
    __shared__ float part[1024];
    extern __shared__ float row_s[];
    i64 row = blockIdx.x;
    const float* l = lp + row * V;
    float* o = out + row * R;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float x = l[j];
        float e = cm_exp(x);
        if (v3 && !(x > -87.0f)) e = 0.0f;
        o[rank[j]] = e;
        if (shared) row_s[rank[j]] = e;
    }
    __syncthreads();
    const float* src = shared ? row_s : o;
    int nodes = (2 << depth) - 2;
    int t = threadIdx.x;
    if (t < 8 * nodes) {
        int m = t / 8 + 2, k = t % 8;
        int d = 31 - __clz(m);
        int below = bits - d;
        int lo = (m ^ (1 << d)) << below;
        int hi = lo + (1 << below);
        lo = lo < V ? lo : V;
        hi = hi < V ? hi : V;
        float acc = 0.0f;
        for (int i = lo + k; i < hi; i += 8) acc = acc + src[i];
        part[t] = acc;
    }
    __syncthreads();
    if (t < nodes) {
        const float* a = part + 8 * t;
        o[V + t] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
}

// The encoder's path rows (ranked.rs `path_row`): e^lp at each id's rank into `p` (scratch,
// a row per block), then for each depth d the sums of the two sides of the decision on the
// path to rank[known[row]], each as eight running sums in rank_rows' order. 16 × bits threads.
// `shared` as in rank_rows (then `p` is not used).
extern "C" __global__ void path_rows(const float* lp, int V, const int* rank, int bits, int v3, const int* known,
                                     float* p, float* out, int shared) {
    __shared__ float part[1024];
    extern __shared__ float row_s[];
    i64 row = blockIdx.x;
    const float* l = lp + row * V;
    float* o = shared ? row_s : p + row * V;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float x = l[j];
        float e = cm_exp(x);
        if (v3 && !(x > -87.0f)) e = 0.0f;
        o[rank[j]] = e;
    }
    __syncthreads();
    int t = threadIdx.x;
    if (t < 16 * bits) {
        int d = t / 16, side = (t / 8) % 2, k = t % 8;
        int r = rank[known[row]];
        int below = bits - d;
        int lo = (r >> below) << below;
        int mid = lo + (1 << (below - 1));
        int hi = lo + (1 << below);
        lo = lo < V ? lo : V;
        mid = mid < V ? mid : V;
        hi = hi < V ? hi : V;
        int a = side ? mid : lo, b = side ? hi : mid;
        float acc = 0.0f;
        for (int i = a + k; i < b; i += 8) acc = acc + o[i];
        part[t] = acc;
    }
    __syncthreads();
    if (t < 2 * bits) {
        const float* a = part + 8 * t;
        out[row * 2 * bits + t] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
}

// A layer's Q, K and V products in one launch: blockIdx.z picks the product, each block runs
// the body and arguments that product's own launch would (requantised to int8, clamp 127),
// so the same integers with a third of the launches.
#define QKV_ARGS const i8 *Wq, const i8 *Wk, const i8 *Wv, const int *mq, const int *mk, const int *mv, \
                 const i64 *bq, const i64 *bk, const i64 *bv, int sq, int sk, int sv, i8 *oq, i8 *ok, i8 *ov, \
                 int M, int N, int K
#define QKV_PASS Wq, Wk, Wv, mq, mk, mv, bq, bk, bv, sq, sk, sv, oq, ok, ov, M, N, K

template <int R, bool WIDE>
__device__ void qkv_body(const void* A, QKV_ARGS) {
    int z = blockIdx.z;
    const i8* W = z == 0 ? Wq : (z == 1 ? Wk : Wv);
    const int* m = z == 0 ? mq : (z == 1 ? mk : mv);
    const i64* b = z == 0 ? bq : (z == 1 ? bk : bv);
    int shift = z == 0 ? sq : (z == 1 ? sk : sv);
    i8* out = z == 0 ? oq : (z == 1 ? ok : ov);
    gemm_dp4a_body<R, WIDE>(A, W, M, N, K, 1, m, b, shift, 0, 127, (void*)out, (const i16*)0, 0, 0, 0);
}

extern "C" __global__ void __launch_bounds__(256) qkv4_i8(const i8* A, QKV_ARGS) { qkv_body<4, false>(A, QKV_PASS); }
extern "C" __global__ void __launch_bounds__(256) qkv4_i16(const i16* A, QKV_ARGS) { qkv_body<4, true>(A, QKV_PASS); }
extern "C" __global__ void __launch_bounds__(256) qkv2_i8(const i8* A, QKV_ARGS) { qkv_body<2, false>(A, QKV_PASS); }
extern "C" __global__ void __launch_bounds__(256) qkv2_i16(const i16* A, QKV_ARGS) { qkv_body<2, true>(A, QKV_PASS); }

// Row i of K and of V to row base + rows[i] of their pools, both in one launch.
extern "C" __global__ void scatter_kv(const i8* k, const i8* v, int H, i64 base, const int* rows, i8* pk, i8* pv) {
    int i = blockIdx.x;
    i64 to = (base + rows[i]) * H, from = (i64)i * H;
    for (int c = threadIdx.x; c < H; c += blockDim.x) {
        pk[to + c] = k[from + c];
        pv[to + c] = v[from + c];
    }
}
