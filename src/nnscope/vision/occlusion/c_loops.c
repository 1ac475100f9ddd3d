/* Loops of incremental occlusion that torch can only do in several passes over memory, each
 * done here in one: building the first block's window (input region, conv with one input channel,
 * pool, batch norm, ReLU), cutting a later block's input region out of the unoccluded map with
 * the fresh window written over it, pool + batch norm + ReLU of a conv output, and the logits
 * from the last block's windows. The convs of the later blocks stay in torch (oneDNN).
 * All maps are float32, channels-last (rows of C values), contiguous; indices are int32.
 * Compiled and loaded by c_build.py and called through c_loops.py, which checks every argument;
 * incremental.py holds the torch version of each loop, which the tests compare them with. */

#include <string.h>

/* Channel loops run in blocks of 16 (a fixed trip count the compiler turns into a few vector
 * instructions: a loop over a variable count of 16 to 64 channels costs more in set-up than in
 * work), then one channel at a time for the rest. */
#define BLOCK 16
typedef float vec __attribute__((vector_size(BLOCK * sizeof(float))));

/* out = the max of a, b, c, d (a 2x2 pool cell's channel vectors), or a alone without pool. */
static inline void pool_cell(const float *a, const float *b, const float *c, const float *d, int pool,
                             int channels, float *out) {
    int ch = 0;
    if (!pool) {
        if (out != a) memcpy(out, a, sizeof(float) * channels);
        return;
    }
    for (; ch + BLOCK <= channels; ch += BLOCK)
        for (int j = ch; j < ch + BLOCK; j++) {
            float m1 = b[j] > a[j] ? b[j] : a[j], m2 = d[j] > c[j] ? d[j] : c[j];
            out[j] = m2 > m1 ? m2 : m1;
        }
    for (; ch < channels; ch++) {
        float m1 = b[ch] > a[ch] ? b[ch] : a[ch], m2 = d[ch] > c[ch] ? d[ch] : c[ch];
        out[ch] = m2 > m1 ? m2 : m1;
    }
}

/* Batch norm (scale, shift; NULL: folded into the conv), then ReLU, in place. */
static inline void norm_relu(float *out, const float *scale, const float *shift, int channels) {
    int ch = 0;
    if (scale) {
        for (; ch + BLOCK <= channels; ch += BLOCK)
            for (int j = ch; j < ch + BLOCK; j++) {
                float v = out[j] * scale[j] + shift[j];
                out[j] = v > 0.0f ? v : 0.0f;
            }
        for (; ch < channels; ch++) {
            float v = out[ch] * scale[ch] + shift[ch];
            out[ch] = v > 0.0f ? v : 0.0f;
        }
        return;
    }
    for (; ch + BLOCK <= channels; ch += BLOCK)
        for (int j = ch; j < ch + BLOCK; j++) out[j] = out[j] > 0.0f ? out[j] : 0.0f;
    for (; ch < channels; ch++) out[ch] = out[ch] > 0.0f ? out[ch] : 0.0f;
}

/* A block's output at one position: pool, batch norm and ReLU. */
static inline void finish(const float *a, const float *b, const float *c, const float *d, int pool,
                          const float *scale, const float *shift, int channels, float *out) {
    pool_cell(a, b, c, d, pool, channels, out);
    norm_relu(out, scale, shift, channels);
}

/* The conv outputs of one pool cell (s x s pixels from (row, col) of `region`, row stride Wr;
 * s = 1 without pool) of a one-input-channel conv: bias + the k x k taps times weight (k, k, C),
 * into out[q] (C) for pixel q. The s x s pixels are summed side by side: four independent sums
 * keep the vector unit busy where one would wait on each multiply-add. */
static inline void conv_cell(const float *region, int Wr, int row, int col, int s, int k, const float *weight,
                             const float *bias, int channels, float out[4][256]) {
    int ch = 0;
    for (; ch + BLOCK <= channels; ch += BLOCK) {  /* 16 channels in one vector (GCC/clang vector type) */
        vec init = {0.0f};
        if (bias) memcpy(&init, bias + ch, sizeof init);
        vec acc[4] = {init, init, init, init};
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                vec wt;
                memcpy(&wt, weight + (ky * k + kx) * channels + ch, sizeof wt);
                const float *p = region + (row + ky) * Wr + col + kx;
                acc[0] += wt * p[0];
                if (s == 2) {
                    acc[1] += wt * p[1];
                    acc[2] += wt * p[Wr];
                    acc[3] += wt * p[Wr + 1];
                }
            }
        for (int q = 0; q < s * s; q++) memcpy(out[q] + ch, &acc[q], sizeof acc[q]);
    }
    for (; ch < channels; ch++)
        for (int q = 0; q < s * s; q++) {
            float acc = bias ? bias[ch] : 0.0f;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                    acc += weight[(ky * k + kx) * channels + ch] * region[(row + q / s + ky) * Wr + col + q % s + kx];
            out[q][ch] = acc;
        }
}

/* The first block's fresh windows. padded: the unoccluded normalised images (N, Hp, Wp), zero-
 * padded by `pad`. Item b is image item_image[b] with the box (top, bottom, left, right; image
 * coordinates, half-open) set to `fill`, or to pasted[b] (bh x bw, normalised) when pasted is not
 * NULL. Its window is out[b] (h, w, C) at (top[b], left[b]) of the block's output. weight
 * (k, k, C), bias (C) or NULL. */
void first_block(const float *padded, int Hp, int Wp, const int *item_image, const int *box,
                 const float *pasted, int bh, int bw, float fill, const int *top, const int *left,
                 int count, int h, int w, int k, int pad, const float *weight, const float *bias,
                 int pool, const float *scale, const float *shift, int channels, float *out) {
    int s = pool ? 2 : 1, Hr = h * s + k - 1, Wr = w * s + k - 1;
    float region[(28 + 8) * (28 + 8)];  /* the item's input region; Hr, Wr <= 36 (c_loops.py: REGION_SIDE) */
    float conv[4][256];  /* the s x s conv outputs of one pool cell; channels <= 256 (c_loops.py: MAX_CHANNELS) */
    for (int b = 0; b < count; b++) {
        const float *image = padded + (long)item_image[b] * Hp * Wp;
        const int *bx = box + 4 * b;
        const float *paste = pasted ? pasted + (long)b * bh * bw : 0;
        int r0 = top[b] * s, c0 = left[b] * s;  /* region origin, padded coordinates */
        for (int i = 0; i < Hr; i++) {
            int iy = r0 + i - pad;  /* image row */
            for (int j = 0; j < Wr; j++) {
                int ix = c0 + j - pad;
                float p = image[(r0 + i) * Wp + c0 + j];
                if (iy >= bx[0] && iy < bx[1] && ix >= bx[2] && ix < bx[3])
                    p = paste ? paste[(iy - bx[0]) * bw + ix - bx[2]] : fill;
                region[i * Wr + j] = p;
            }
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                conv_cell(region, Wr, y * s, x * s, s, k, weight, bias, channels, conv);
                finish(conv[0], conv[1], conv[2], conv[3], pool, scale, shift, channels,
                       out + (((long)b * h + y) * w + x) * channels);
            }
        }
    }
}

/* A later block's input regions. full: the unoccluded input (N, Hp, Wp, C), zero-padded by `pad`.
 * out[b] (Hr, Wr, C) is the region of image item_image[b] at (top[b], left[b]) (padded
 * coordinates), with the previous block's fresh window fresh[b] (h, w, C), at (wtop[b], wleft[b])
 * of the map, written over the part of it the region shows. */
void paste_region(const float *full, int Hp, int Wp, int channels, const int *item_image,
                  const int *top, const int *left, int count, int Hr, int Wr, const float *fresh,
                  const int *wtop, const int *wleft, int h, int w, int pad, float *out) {
    for (int b = 0; b < count; b++) {
        int y0 = wtop[b] + pad - top[b], x0 = wleft[b] + pad - left[b];  /* window origin in the region */
        int j0 = x0 > 0 ? x0 : 0, j1 = x0 + w < Wr ? x0 + w : Wr;  /* region columns the window covers */
        for (int i = 0; i < Hr; i++) {
            float *dst = out + ((long)b * Hr + i) * Wr * channels;
            const float *src = full + (((long)item_image[b] * Hp + top[b] + i) * Wp + left[b]) * channels;
            int y = i - y0;
            if (y < 0 || y >= h || j0 >= j1) {
                memcpy(dst, src, sizeof(float) * Wr * channels);
                continue;
            }
            memcpy(dst, src, sizeof(float) * j0 * channels);
            memcpy(dst + j0 * channels, fresh + (((long)b * h + y) * w + j0 - x0) * channels,
                   sizeof(float) * (j1 - j0) * channels);
            memcpy(dst + j1 * channels, src + j1 * channels, sizeof(float) * (Wr - j1) * channels);
        }
    }
}

/* Pool (2x2, when pool), batch norm (scale, shift; NULL: none) and ReLU of conv outputs
 * (B, Ho, Wo, C) into out (B, h, w, C), h = Ho / 2 when pooling. */
void pool_norm_relu(const float *conv, int count, int Ho, int Wo, int channels, int pool,
                    const float *scale, const float *shift, float *out) {
    int s = pool ? 2 : 1, h = Ho / s, w = Wo / s;
    for (int b = 0; b < count; b++) {
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                const float *a = conv + (((long)b * Ho + y * s) * Wo + x * s) * channels;
                float *o = out + (((long)b * h + y) * w + x) * channels;
                if (pool)
                    finish(a, a + channels, a + Wo * channels, a + (Wo + 1) * channels, 1, scale, shift, channels, o);
                else
                    finish(a, a, a, a, 0, scale, shift, channels, o);
            }
        }
    }
}

/* acc += a[i] * b[i] for i < n: four vectors of 16 partial sums side by side (independent
 * chains), the rest into *tail one by one; a fixed order, so the same numbers on any thread. */
static inline void multiply_add(const float *a, const float *b, int n, vec acc[4], float *tail) {
    int i = 0;
    for (; i + 4 * BLOCK <= n; i += 4 * BLOCK)
        for (int u = 0; u < 4; u++) {
            vec x, y;
            memcpy(&x, a + i + u * BLOCK, sizeof x);
            memcpy(&y, b + i + u * BLOCK, sizeof y);
            acc[u] += x * y;
        }
    for (; i + BLOCK <= n; i += BLOCK) {
        vec x, y;
        memcpy(&x, a + i, sizeof x);
        memcpy(&y, b + i, sizeof y);
        acc[0] += x * y;
    }
    for (; i < n; i++) *tail += a[i] * b[i];
}

/* The logits of the last block's fresh windows: out[b] (K) = without[image[b], top[b], left[b]]
 * (the logits of the unoccluded map without the window's positions, (N, places_h, places_w, K))
 * + the fc weights (K, H, W, C) of the window at (top[b], left[b]) times fresh[b] (h, w, C).
 * With `raw`, fresh holds the last conv's outputs (no pool after it), and batch norm (scale,
 * shift; NULL: folded) and ReLU are applied here, in a window-sized buffer, instead of in a pass
 * of their own over all the windows. */
void window_logits(const float *without, int places_h, int places_w, int classes, const float *weight, int H,
                   int W, int channels, const int *item_image, const int *top, const int *left, int count,
                   const float *fresh, int h, int w, int raw, const float *scale, const float *shift, float *out) {
    int row = w * channels;  /* one window row, contiguous in both fresh and the weights */
    float finished[h * row];
    for (int b = 0; b < count; b++) {
        const float *outside = without + (((long)item_image[b] * places_h + top[b]) * places_w + left[b]) * classes;
        const float *window = fresh + (long)b * h * row;
        if (raw) {
            for (int p = 0; p < h * w; p++) {
                const float *a = window + p * channels;
                finish(a, a, a, a, 0, scale, shift, channels, finished + p * channels);
            }
            window = finished;
        }
        for (int k = 0; k < classes; k++) {
            vec acc[4] = {{0.0f}, {0.0f}, {0.0f}, {0.0f}};
            float tail = 0.0f;
            for (int y = 0; y < h; y++)
                multiply_add(window + y * row, weight + (((long)k * H + top[b] + y) * W + left[b]) * channels, row,
                             acc, &tail);
            vec total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
            float sum = tail;
            for (int j = 0; j < BLOCK; j++) sum += total[j];
            out[(long)b * classes + k] = outside[k] + sum;
        }
    }
}
