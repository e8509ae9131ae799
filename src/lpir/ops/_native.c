/* Compiled inner loops for the few ops where numpy's one-pass-per-operation model costs
 * most, and for the calibration histogram. Each function computes exactly what its numpy
 * reference computes (named in its docstring), in the same operation order and without fused multiply-add (the build passes
 * -ffp-contract=off), so results are bit-identical with or without this module.
 *
 * Arrays arrive through the buffer protocol (no numpy headers needed to build); the
 * arithmetic runs with the GIL released so callers may split work over threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

/* Partial sums of four vectors of outputs stay in registers across all taps, so a tap costs
 * one load of inputs per vector and no load or store of the sums. GCC and Clang vector
 * extensions keep this portable; other compilers get the scalar loop, same order. */
#if defined(__GNUC__)
#define HAVE_VECTORS 1
typedef float f32_vector __attribute__((vector_size(32)));
typedef double f64_vector __attribute__((vector_size(32)));
#define LOAD(vector, pointer) memcpy(&(vector), (pointer), sizeof(vector))
#define STORE(pointer, vector) memcpy((pointer), &(vector), sizeof(vector))
#else
#define HAVE_VECTORS 0
typedef float f32_vector;
typedef double f64_vector;
#endif

/* Wider vectors where the CPU has them, chosen at load time: the same operations in the same
 * order, so the bits do not depend on the choice. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* One output position i: the scalar form of the loop, and the tail of the vector form. */
#define ACCUMULATE_ONE(T, i)                                                              \
    do {                                                                                  \
        T sum = tap_start[0][i] * w[0];                                                   \
        for (Py_ssize_t t = 1; t < taps; t++)                                             \
            sum = sum + tap_start[t][i] * w[t];                                           \
        acc[i] = sum;                                                                     \
    } while (0)

#if HAVE_VECTORS
/* Sums for outputs from i on, four vectors at a time, then one; leaves i at the first
 * output left for the scalar loop. */
#define ACCUMULATE_VECTORS(T, V)                                                          \
    do {                                                                                  \
        const Py_ssize_t lanes = sizeof(V) / sizeof(T);                                   \
        for (; i + 4 * lanes <= length; i += 4 * lanes) {                                 \
            V x0, x1, x2, x3;                                                             \
            const T *x = tap_start[0] + i;                                                \
            LOAD(x0, x); LOAD(x1, x + lanes); LOAD(x2, x + 2 * lanes); LOAD(x3, x + 3 * lanes); \
            V s0 = x0 * w[0], s1 = x1 * w[0], s2 = x2 * w[0], s3 = x3 * w[0];             \
            for (Py_ssize_t t = 1; t < taps; t++) {                                       \
                const T wt = w[t];                                                        \
                x = tap_start[t] + i;                                                     \
                LOAD(x0, x); LOAD(x1, x + lanes); LOAD(x2, x + 2 * lanes); LOAD(x3, x + 3 * lanes); \
                s0 = s0 + x0 * wt; s1 = s1 + x1 * wt; s2 = s2 + x2 * wt; s3 = s3 + x3 * wt; \
            }                                                                             \
            STORE(acc + i, s0); STORE(acc + i + lanes, s1);                               \
            STORE(acc + i + 2 * lanes, s2); STORE(acc + i + 3 * lanes, s3);               \
        }                                                                                 \
        for (; i + lanes <= length; i += lanes) {                                         \
            V x0;                                                                         \
            LOAD(x0, tap_start[0] + i);                                                   \
            V s0 = x0 * w[0];                                                             \
            for (Py_ssize_t t = 1; t < taps; t++) {                                       \
                LOAD(x0, tap_start[t] + i);                                               \
                s0 = s0 + x0 * w[t];                                                      \
            }                                                                             \
            STORE(acc + i, s0);                                                           \
        }                                                                                 \
    } while (0)
#else
#define ACCUMULATE_VECTORS(T, V) do { } while (0)
#endif

/* Geometry of a 2-D depthwise convolution over zero-padded phase planes (see
 * lpir/ops/depthwise.py): the padded input of one channel split into stride phases, each a
 * `rows` x `row` grid, so every kernel tap reads one contiguous run of `length` values. */
typedef struct {
    Py_ssize_t count, channels, height, width, multiplier, kernel_h, kernel_w, out_h, out_w;
    Py_ssize_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
    Py_ssize_t rows, row, phase_size, phase_count, taps, length;
    /* count = N * C planes; length = out_h * row sums per plane, out_w of each row kept */
    int64_t *offsets; /* per tap: phase * phase_size + offset in the phase */
} Geometry;

#define DEFINE_DEPTHWISE(NAME, T, V)                                                      \
    VECTOR_CLONES static void NAME(const Geometry *g, const T *restrict input,            \
                                   const T *restrict weights, T *restrict output,         \
                                   T *restrict planes, T *restrict sums,                  \
                                   const T **restrict tap_start)                          \
    {                                                                                     \
        const Py_ssize_t taps = g->taps, length = g->length;                              \
        const Py_ssize_t plane_in = g->height * g->width, plane_out = g->out_h * g->out_w; \
        for (Py_ssize_t t = 0; t < taps; t++)                                             \
            tap_start[t] = planes + g->offsets[t];                                        \
        for (Py_ssize_t p = 0; p < g->count; p++) { /* one (image, channel) at a time */  \
            const Py_ssize_t n = p / g->channels, c = p % g->channels;                    \
            const T *x = input + p * plane_in;                                            \
            memset(planes, 0, sizeof(T) * g->phase_count * g->phase_size);                \
            for (Py_ssize_t y = 0; y < g->height; y++) {                                  \
                const Py_ssize_t py = y + g->pad_top;                                     \
                T *dest = planes + (py % g->stride_h) * g->stride_w * g->phase_size       \
                          + (py / g->stride_h) * g->row;                                  \
                const T *src = x + y * g->width;                                          \
                if (g->stride_w == 1) {                                                   \
                    memcpy(dest + g->pad_left, src, sizeof(T) * g->width);                \
                    continue;                                                             \
                }                                                                         \
                if (g->stride_w == 2) { /* both phases in one pass, which vectorizes */    \
                    const Py_ssize_t pl = g->pad_left;                                    \
                    T *even = dest + (pl % 2) * g->phase_size + pl / 2;                   \
                    T *odd = dest + ((pl + 1) % 2) * g->phase_size + (pl + 1) / 2;        \
                    Py_ssize_t k = 0;                                                     \
                    for (; 2 * k + 1 < g->width; k++) {                                   \
                        even[k] = src[2 * k];                                             \
                        odd[k] = src[2 * k + 1];                                          \
                    }                                                                     \
                    if (2 * k < g->width)                                                 \
                        even[k] = src[2 * k];                                             \
                    continue;                                                             \
                }                                                                         \
                for (Py_ssize_t a = 0; a < g->stride_w; a++) { /* one phase's columns */  \
                    Py_ssize_t xx = (a - g->pad_left % g->stride_w + g->stride_w) % g->stride_w; \
                    T *phase_row = dest + a * g->phase_size + (xx + g->pad_left) / g->stride_w; \
                    for (; xx < g->width; xx += g->stride_w)                              \
                        *phase_row++ = src[xx];                                           \
                }                                                                         \
            }                                                                             \
            for (Py_ssize_t m = 0; m < g->multiplier; m++) {                              \
                const T *w = weights + (c * g->multiplier + m) * taps;                    \
                T *acc = sums;                                                            \
                Py_ssize_t i = 0;                                                         \
                ACCUMULATE_VECTORS(T, V);                                                 \
                for (; i < length; i++)                                                   \
                    ACCUMULATE_ONE(T, i);                                                 \
                T *out = output + ((n * g->channels + c) * g->multiplier + m) * plane_out; \
                for (Py_ssize_t oy = 0; oy < g->out_h; oy++)                              \
                    memcpy(out + oy * g->out_w, sums + oy * g->row, sizeof(T) * g->out_w); \
            }                                                                             \
        }                                                                                 \
    }

DEFINE_DEPTHWISE(depthwise_f32, float, f32_vector)
DEFINE_DEPTHWISE(depthwise_f64, double, f64_vector)

static int
get_buffer(PyObject *obj, Py_buffer *view, int writable, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    if (view->ndim != 4) {
        PyErr_Format(PyExc_ValueError, "depthwise2d: %s must have 4 dimensions, not %d", name, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* 'f' for float32, 'd' for float64, 0 for anything else. */
static char
float_kind(const Py_buffer *view)
{
    const char *format = view->format ? view->format : "B";
    if (format[0] == '@' || format[0] == '=' || format[0] == '<')
        format++;
    if (format[1] != '\0')
        return 0;
    if (format[0] == 'f' && view->itemsize == 4)
        return 'f';
    if (format[0] == 'd' && view->itemsize == 8)
        return 'd';
    return 0;
}

static Py_ssize_t
ceil_div(Py_ssize_t a, Py_ssize_t b)
{
    return (a + b - 1) / b;
}

/* Fills the geometry from the arrays' shapes and the attributes; 0 or -1 with an exception. */
static int
make_geometry(Geometry *g, const Py_buffer *x, const Py_buffer *w, const Py_buffer *out,
              const Py_ssize_t attrs[8])
{
    const Py_ssize_t *xs = x->shape, *ws = w->shape, *os = out->shape;
    g->count = xs[0] * xs[1], g->channels = xs[1], g->height = xs[2], g->width = xs[3];
    g->multiplier = ws[1], g->kernel_h = ws[2], g->kernel_w = ws[3];
    g->stride_h = attrs[0], g->stride_w = attrs[1], g->dilation_h = attrs[2], g->dilation_w = attrs[3];
    g->pad_top = attrs[4], g->pad_left = attrs[5];
    Py_ssize_t pad_bottom = attrs[6], pad_right = attrs[7];
    for (int k = 0; k < 8; k++) {
        if (attrs[k] < (k < 4 ? 1 : 0)) {
            PyErr_SetString(PyExc_ValueError, "depthwise2d: strides and dilations must be positive, pads not negative");
            return -1;
        }
    }
    Py_ssize_t padded_h = g->height + g->pad_top + pad_bottom, padded_w = g->width + g->pad_left + pad_right;
    if (g->kernel_h < 1 || g->kernel_w < 1 || padded_h < g->dilation_h * (g->kernel_h - 1) + 1
        || padded_w < g->dilation_w * (g->kernel_w - 1) + 1) {
        PyErr_SetString(PyExc_ValueError, "depthwise2d: the kernel does not fit the padded input");
        return -1;
    }
    g->out_h = (padded_h - g->dilation_h * (g->kernel_h - 1) - 1) / g->stride_h + 1;
    g->out_w = (padded_w - g->dilation_w * (g->kernel_w - 1) - 1) / g->stride_w + 1;
    if (ws[0] != g->channels || os[0] != xs[0] || os[1] != g->channels * g->multiplier
        || os[2] != g->out_h || os[3] != g->out_w) {
        PyErr_SetString(PyExc_ValueError, "depthwise2d: shapes disagree (x [N, C, H, W], weights [C, M, KH, KW], "
                                          "out [N, C*M, OH, OW] with OH, OW from the geometry)");
        return -1;
    }
    g->row = ceil_div(padded_w, g->stride_w);
    g->taps = g->kernel_h * g->kernel_w;
    g->phase_count = g->stride_h * g->stride_w;
    g->length = g->out_h * g->row;
    Py_ssize_t max_offset = ((g->dilation_h * (g->kernel_h - 1)) / g->stride_h) * g->row
                            + (g->dilation_w * (g->kernel_w - 1)) / g->stride_w;
    g->rows = ceil_div(padded_h, g->stride_h);
    if (g->rows < g->out_h + ceil_div(max_offset, g->row))
        g->rows = g->out_h + ceil_div(max_offset, g->row);
    g->phase_size = g->rows * g->row;
    return 0;
}

PyDoc_STRVAR(depthwise2d_doc,
"depthwise2d(x, weights, out, strides, dilations, pads)\n\n"
"The depthwise convolution of x [N, C, H, W] with weights\n"
"[C, M, KH, KW] into out [N, C*M, OH, OW]: all C-contiguous float32 or all float64.\n"
"strides and dilations are (h, w), pads (top, left, bottom, right), none negative. The sums\n"
"run over the taps in row-major order, as lpir.ops.depthwise.depthwise_reference adds them.");

static PyObject *
depthwise2d(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *objects[3];
    Py_buffer views[3];
    static const char *names[3] = {"x", "weights", "out"};
    Py_ssize_t attrs[8];
    int got = 0;
    PyObject *result = NULL;
    void *scratch = NULL;

    if (!PyArg_ParseTuple(args, "OOO(nn)(nn)(nnnn):depthwise2d", &objects[0], &objects[1], &objects[2],
                          &attrs[0], &attrs[1], &attrs[2], &attrs[3], &attrs[4], &attrs[5],
                          &attrs[6], &attrs[7]))
        return NULL;
    for (; got < 3; got++)
        if (get_buffer(objects[got], &views[got], got == 2, names[got]) < 0)
            goto done;
    char kind = float_kind(&views[0]);
    if (kind == 0 || float_kind(&views[1]) != kind || float_kind(&views[2]) != kind) {
        PyErr_SetString(PyExc_TypeError, "depthwise2d: x, weights and out must all be float32 or all float64");
        goto done;
    }
    Geometry g;
    if (make_geometry(&g, &views[0], &views[1], &views[2], attrs) < 0)
        goto done;
    size_t item = views[0].itemsize;
    size_t floats = (size_t)(g.phase_count * g.phase_size + g.length + 1) & ~(size_t)1; /* int64s follow */
    scratch = PyMem_RawMalloc(floats * item + (size_t)g.taps * (sizeof(int64_t) + sizeof(void *)));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    void *planes = scratch, *sums = (char *)scratch + (size_t)(g.phase_count * g.phase_size) * item;
    g.offsets = (int64_t *)((char *)scratch + floats * item);
    void *tap_start = g.offsets + g.taps;
    for (Py_ssize_t i = 0, t = 0; i < g.kernel_h; i++) {
        for (Py_ssize_t j = 0; j < g.kernel_w; j++, t++) {
            Py_ssize_t dy = i * g.dilation_h, dx = j * g.dilation_w;
            Py_ssize_t phase = (dy % g.stride_h) * g.stride_w + dx % g.stride_w;
            g.offsets[t] = phase * g.phase_size + (dy / g.stride_h) * g.row + dx / g.stride_w;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    if (kind == 'f')
        depthwise_f32(&g, views[0].buf, views[1].buf, views[2].buf, planes, sums, tap_start);
    else
        depthwise_f64(&g, views[0].buf, views[1].buf, views[2].buf, planes, sums, tap_start);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyMem_RawFree(scratch);
    while (got-- > 0)
        PyBuffer_Release(&views[got]);
    return result;
}

/* -- calibration histograms (lpir.quantization.histogram) ------------------------------------ */

/* One contiguous 1-D buffer of the given format character ('f' float32, 'q' int64). */
static int
get_vector(PyObject *obj, Py_buffer *view, int writable, char kind, const char *what)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    const char *format = view->format ? view->format : "B";
    if (format[0] == '@' || format[0] == '=' || format[0] == '<')
        format++;
    int ok = view->ndim == 1 && format[1] == '\0' && view->itemsize == (kind == 'f' ? 4 : 8)
             && (format[0] == kind || (kind == 'q' && format[0] == 'l'));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-D contiguous %s array", what, kind == 'f' ? "float32" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(extremes_doc,
"extremes(values) -> (zeros, low, high)\n\n"
"The number of zeros among float32 values and the least and greatest of the others\n"
"(inf and -inf if there are none), as lpir.quantization.histogram.extremes gives them.");

static PyObject *
extremes(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer view;
    if (get_vector(arg, &view, 0, 'f', "extremes") < 0)
        return NULL;
    const float *x = view.buf;
    Py_ssize_t n = view.len / 4, zeros = 0;
    float low = INFINITY, high = -INFINITY;
    uint32_t least = UINT32_MAX; /* the least nonzero magnitude's bits, less one (zero wraps to the top) */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) { /* no branch on the value: ReLU outputs mix zeros in at random */
        float v = x[i];
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        uint32_t magnitude = (bits & 0x7FFFFFFFu) - 1u;
        zeros += v == 0.0f;
        low = v < low ? v : low;
        high = v > high ? v : high;
        least = magnitude < least ? magnitude : least;
    }
    Py_END_ALLOW_THREADS
    if (zeros == n) {
        low = INFINITY;
        high = -INFINITY;
    } else if (zeros) { /* with zeros among them: an extreme at zero is the least magnitude */
        uint32_t bits = least + 1u;
        float smallest;
        memcpy(&smallest, &bits, sizeof smallest);
        low = low == 0.0f ? smallest : low;
        high = high == 0.0f ? -smallest : high;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("ndd", zeros, (double)low, (double)high);
}

PyDoc_STRVAR(bin_counts_doc,
"bin_counts(values, counts, exponent)\n\n"
"Adds one to counts[floor(x / 2**exponent) + len(counts) // 2] for every nonzero float32\n"
"value x (the quotient exact in double), as lpir.quantization.histogram.bin_counts does.\n"
"ValueError if a value falls outside counts (or is NaN); counts may then be partly updated.");

static PyObject *
bin_counts(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *values_obj, *counts_obj;
    int exponent;
    if (!PyArg_ParseTuple(args, "OOi:bin_counts", &values_obj, &counts_obj, &exponent))
        return NULL;
    Py_buffer values, counts;
    if (get_vector(values_obj, &values, 0, 'f', "bin_counts") < 0)
        return NULL;
    if (get_vector(counts_obj, &counts, 1, 'q', "bin_counts") < 0) {
        PyBuffer_Release(&values);
        return NULL;
    }
    const float *x = values.buf;
    int64_t *c = counts.buf;
    Py_ssize_t n = values.len / 4, size = counts.len / 8, half = size / 2, outside = 0, zeros = 0;
    double scale = ldexp(1.0, -exponent);
    /* four sets of counts taken in turn, so that runs of equal values (the zeros of a ReLU,
     * all in one bin with the others) do not wait on one counter */
    int64_t *stripes = PyMem_RawCalloc(4 * (size_t)size, sizeof(int64_t));
    if (stripes == NULL) {
        PyBuffer_Release(&values);
        PyBuffer_Release(&counts);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        double q = (double)x[i] * scale;
        zeros += x[i] == 0.0f;
        if (!(q >= (double)-half && q < (double)half)) {
            outside++;
            continue;
        }
        Py_ssize_t k = (Py_ssize_t)q; /* toward zero; one less below it makes the floor */
        k -= q < (double)k;
        stripes[(i & 3) * size + k + half]++;
    }
    for (Py_ssize_t k = 0; k < size; k++)
        c[k] += stripes[k] + stripes[size + k] + stripes[2 * size + k] + stripes[3 * size + k];
    c[half] -= zeros;
    Py_END_ALLOW_THREADS
    PyMem_RawFree(stripes);
    PyBuffer_Release(&values);
    PyBuffer_Release(&counts);
    if (outside) {
        PyErr_Format(PyExc_ValueError, "bin_counts: %zd values fall outside the %zd bins of width 2**%d",
                     outside, size, exponent);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"depthwise2d", depthwise2d, METH_VARARGS, depthwise2d_doc},
    {"extremes", extremes, METH_O, extremes_doc},
    {"bin_counts", bin_counts, METH_VARARGS, bin_counts_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "lpir.ops._native",
    "Compiled inner loops, bit-identical to their numpy references.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModule_Create(&module);
}
