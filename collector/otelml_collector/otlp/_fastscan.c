/* Fast scan of a serialized ExportTraceServiceRequest for otelml's ML records.
 *
 * Walks the protobuf wire format once, skips everything but inference spans and their `ml.*`
 * attributes, and returns the same (spans, cells, strings) triple as the pure-Python reference in
 * extraction_scan.py, which defines the semantics; tests check both agree on randomized requests.
 * Any wire error raises ValueError and the caller falls back to the reference path; so do the rare
 * valid requests whose meaning needs protobuf's merge of a repeated message field (see parse_any).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { K_NONE = 0, K_STR = 1, K_BOOL = 2, K_INT = 3, K_DOUBLE = 4, K_ARRAY = 5 };
enum { R_FEATURE = 0, R_PRED_VALUE = 1, R_PRED_SCORE = 2, R_SEGMENT = 3 };

typedef struct {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint64_t end_time;
    int32_t model, version, pid, nrows;
    int64_t offset; /* of the span's field tag in the request: lets processors splice without a walk */
} span_rec; /* 56 bytes, matches SPAN_DTYPE */

typedef struct {
    int32_t span, key, row;
    int16_t role, kind;
    int32_t str, pad;
    int64_t inum;
    double dnum;
} cell_rec; /* 40 bytes, matches CELL_DTYPE */

typedef struct {
    const uint8_t *p;
    size_t len;
    uint64_t hash;
    int32_t idx;
} slot;

typedef struct {
    char *buf;
    size_t len, cap;
} growbuf;

typedef struct {
    slot *slots;
    size_t nslots, used;
    growbuf strs; /* (pointer, length) of each distinct string, in index order */
    growbuf spans, cells;
    int32_t nspans;
    int nomem;
    const uint8_t *base; /* the request, for span offsets */
} state; /* the walk makes no Python calls, so it runs without the GIL */

typedef struct {
    const uint8_t *p;
    size_t len;
} strref;

typedef struct {
    uint32_t field;
    int wt;
    uint64_t v;
    const uint8_t *data;
    size_t len;
} fld;

typedef struct {
    int kind;
    int64_t inum;
    double dnum;
    const uint8_t *s;
    size_t slen;
} anyv;

/* A varint of at most `max_bytes` bytes, as upb reads them: values take up to 10 bytes (bits past 64
 * dropped), tags and lengths up to 5 (upb rejects longer ones even when their value is small). */
static int read_varint_long(const uint8_t **pp, const uint8_t *end, uint64_t *out, int max_bytes) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < max_bytes && p < end; i++) {
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Most tags and lengths of OTLP are one byte: that case inline, the rest in read_varint_long
 * (with next_field always inlined, callgrind on 512-span requests: the check takes 0.79 and the
 * scan 0.73 of the instructions of an out-of-line loop). */
static inline int read_varint_max(const uint8_t **pp, const uint8_t *end, uint64_t *out, int max_bytes) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *out = *p;
        *pp = p + 1;
        return 0;
    }
    return read_varint_long(pp, end, out, max_bytes);
}

static int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    return read_varint_max(pp, end, out, 10);
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline __attribute__((always_inline)) int next_field(const uint8_t **pp, const uint8_t *end, fld *f) {
    uint64_t tag, n;
    if (read_varint_max(pp, end, &tag, 5)) return -1;
    f->field = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    if (f->field == 0 || tag >> 3 > 536870911u) return -1; /* protobuf's valid field numbers */
    switch (f->wt) {
    case 0:
        return read_varint(pp, end, &f->v);
    case 1:
        if (end - *pp < 8) return -1;
        f->v = le64(*pp);
        *pp += 8;
        return 0;
    case 5:
        if (end - *pp < 4) return -1;
        *pp += 4;
        return 0;
    case 2:
        if (read_varint_max(pp, end, &n, 5)) return -1;
        if (n >= INT32_MAX || n > (uint64_t)(end - *pp)) return -1; /* upb's size limits */
        f->data = *pp;
        f->len = (size_t)n;
        *pp += n;
        return 0;
    default:
        return -1; /* groups: left to the reference decoder */
    }
}

static int gb_reserve(growbuf *g, size_t cap) {
    char *nb = realloc(g->buf, cap);
    if (!nb) return -1;
    g->buf = nb;
    g->cap = cap;
    return 0;
}

static int gb_push(growbuf *g, const void *item, size_t size, int *nomem) {
    if (g->len + size > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        while (cap < g->len + size) cap *= 2;
        char *nb = realloc(g->buf, cap);
        if (!nb) {
            *nomem = 1;
            return -1;
        }
        g->buf = nb;
        g->cap = cap;
    }
    memcpy(g->buf + g->len, item, size);
    g->len += size;
    return 0;
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Index of the string `p[:n]` in st->strs, adding it on first sight; -1 when out of memory. */
static int32_t intern(state *st, const uint8_t *p, size_t n) {
    if (st->used * 2 >= st->nslots) {
        size_t ns = st->nslots * 2;
        slot *nsl = calloc(ns, sizeof(slot));
        if (!nsl) {
            st->nomem = 1;
            return -1;
        }
        for (size_t i = 0; i < st->nslots; i++) {
            if (!st->slots[i].p) continue;
            size_t j = st->slots[i].hash & (ns - 1);
            while (nsl[j].p) j = (j + 1) & (ns - 1);
            nsl[j] = st->slots[i];
        }
        free(st->slots);
        st->slots = nsl;
        st->nslots = ns;
    }
    uint64_t h = fnv1a(p, n);
    size_t j = h & (st->nslots - 1);
    static const uint8_t empty = 0;
    const uint8_t *key = n ? p : &empty; /* non-NULL marks a used slot */
    while (st->slots[j].p) {
        slot *s = &st->slots[j];
        if (s->hash == h && s->len == n && memcmp(s->p, key, n) == 0) return s->idx;
        j = (j + 1) & (st->nslots - 1);
    }
    strref ref = {key, n};
    size_t idx = st->strs.len / sizeof(strref);
    if (idx >= INT32_MAX || gb_push(&st->strs, &ref, sizeof ref, &st->nomem)) return -1;
    st->slots[j].p = key;
    st->slots[j].len = n;
    st->slots[j].hash = h;
    st->slots[j].idx = (int32_t)idx;
    st->used++;
    return (int32_t)idx;
}

/* AnyValue: the last oneof member present wins. Protobuf merges repeated occurrences of a message
 * member, so a second array_value (rare, never written by an SDK) is left to the reference decoder:
 * -1, and the caller falls back, rather than merging here. kvlist_value is never read, so its
 * occurrences need no merging. */
static int parse_any(const uint8_t *p, size_t n, anyv *out) {
    const uint8_t *end = p + n;
    fld f;
    int arrays = 0;
    out->kind = K_NONE;
    while (p < end) {
        if (next_field(&p, end, &f)) return -1;
        switch (f.field) {
        case 1:
            if (f.wt == 2) out->kind = K_STR, out->s = f.data, out->slen = f.len;
            break;
        case 2:
            if (f.wt == 0) out->kind = K_BOOL, out->inum = f.v != 0;
            break;
        case 3:
            if (f.wt == 0) out->kind = K_INT, out->inum = (int64_t)f.v;
            break;
        case 4:
            if (f.wt == 1) {
                uint64_t bits = f.v;
                out->kind = K_DOUBLE;
                memcpy(&out->dnum, &bits, 8);
            }
            break;
        case 5:
            if (f.wt == 2 && ++arrays > 1) return -1;
            if (f.wt == 2) out->kind = K_ARRAY, out->s = f.data, out->slen = f.len;
            break;
        case 6:
        case 7:
            if (f.wt == 2) out->kind = K_NONE;
            break;
        case 8: /* string_value_strindex (profiles dictionary): not a value extraction can use */
            if (f.wt == 0) out->kind = K_NONE;
            break;
        }
    }
    return 0;
}

static int push_cell(state *st, int role, int32_t key, int32_t row, const anyv *v) {
    cell_rec c;
    memset(&c, 0, sizeof c);
    c.span = st->nspans;
    c.key = key;
    c.row = row;
    c.role = (int16_t)role;
    c.str = -1;
    c.kind = (int16_t)(v->kind == K_ARRAY ? K_NONE : v->kind);
    if (v->kind == K_STR) {
        c.str = intern(st, v->s, v->slen);
        if (c.str < 0) return -1;
    } else if (v->kind == K_BOOL || v->kind == K_INT) {
        c.inum = v->inum;
    } else if (v->kind == K_DOUBLE) {
        c.dnum = v->dnum;
    }
    return gb_push(&st->cells, &c, sizeof c, &st->nomem);
}

typedef struct {
    int inference_attr;
    int32_t model, version, pid;
    int has_array;
    int32_t maxlen;
} span_ctx;

#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)
#define KEY_HAS_PREFIX(lit) (klen > sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)

static int string_ref(state *st, const uint8_t *p, size_t n, int has_value, int32_t *out) {
    anyv v;
    *out = -1;
    if (!has_value) return 0;
    if (parse_any(p, n, &v)) return -1;
    if (v.kind == K_STR) {
        *out = intern(st, v.s, v.slen);
        if (*out < 0) return -1;
    }
    return 0;
}

/* A KeyValue's key and value bytes (the last key wins, as in protobuf). -1 on bad bytes, -2 when the
 * value is given twice: protobuf merges the two, which is left to the reference decoder. */
static inline __attribute__((always_inline)) int read_kv(const uint8_t *p, size_t n, const uint8_t **key,
                                                         size_t *klen, const uint8_t **val, size_t *vlen,
                                                         int *has_value) {
    const uint8_t *end = p + n;
    fld f = {0}; /* as in check_request */
    *key = *val = NULL;
    *klen = *vlen = 0;
    *has_value = 0;
    while (p < end) {
        if (next_field(&p, end, &f)) return -1;
        if (f.wt != 2) continue;
        if (f.field == 1) *key = f.data, *klen = f.len;
        else if (f.field == 2 && *has_value) return -2;
        else if (f.field == 2) *val = f.data, *vlen = f.len, *has_value = 1;
    }
    return 0;
}

static int scan_kv(state *st, const uint8_t *p, size_t n, span_ctx *sc) {
    const uint8_t *key, *val;
    size_t klen, vlen;
    int has_value;
    if (read_kv(p, n, &key, &klen, &val, &vlen, &has_value)) return -1;
    if (klen < 4 || memcmp(key, "ml.", 3) != 0) return 0;
    int role;
    int32_t kref = -1;
    if (KEY_IS("ml.operation.name")) {
        anyv v;
        sc->inference_attr = 0;
        if (has_value) {
            if (parse_any(val, vlen, &v)) return -1;
            sc->inference_attr = v.kind == K_STR && v.slen == 9 && memcmp(v.s, "inference", 9) == 0;
        }
        return 0;
    }
    if (KEY_IS("ml.model.name")) return string_ref(st, val, vlen, has_value, &sc->model);
    if (KEY_IS("ml.model.version")) return string_ref(st, val, vlen, has_value, &sc->version);
    if (KEY_IS("ml.prediction.id")) return string_ref(st, val, vlen, has_value, &sc->pid);
    if (KEY_IS("ml.prediction.value")) {
        role = R_PRED_VALUE;
    } else if (KEY_IS("ml.prediction.score")) {
        role = R_PRED_SCORE;
    } else if (KEY_HAS_PREFIX("ml.feature.")) {
        role = R_FEATURE;
        kref = intern(st, key + 11, klen - 11);
        if (kref < 0) return -1;
    } else if (KEY_HAS_PREFIX("ml.segment.")) {
        role = R_SEGMENT;
        kref = intern(st, key + 11, klen - 11);
        if (kref < 0) return -1;
    } else {
        return 0;
    }
    anyv v;
    v.kind = K_NONE;
    if (has_value && parse_any(val, vlen, &v)) return -1;
    if (v.kind != K_ARRAY) return push_cell(st, role, kref, -1, &v);
    const uint8_t *q = v.s, *qend = v.s + v.slen;
    int32_t row = 0;
    fld f = {0};
    while (q < qend) {
        if (next_field(&q, qend, &f)) return -1;
        if (f.field != 1 || f.wt != 2) continue;
        anyv e;
        if (parse_any(f.data, f.len, &e)) return -1;
        if (e.kind == K_ARRAY) e.kind = K_NONE;
        if (push_cell(st, role, kref, row, &e)) return -1;
        row++;
    }
    sc->has_array = 1;
    if (row > sc->maxlen) sc->maxlen = row;
    return 0;
}

static int scan_span(state *st, const uint8_t *p, size_t n, int64_t offset) {
    const uint8_t *end = p + n, *name = NULL;
    size_t name_len = 0, cells_before = st->cells.len;
    span_rec rec;
    span_ctx sc = {0, -1, -1, -1, 0, 0};
    fld f;
    memset(&rec, 0, sizeof rec);
    while (p < end) {
        if (next_field(&p, end, &f)) return -1;
        switch (f.field) {
        case 1:
            if (f.wt == 2) {
                memset(rec.trace_id, 0, 16);
                memcpy(rec.trace_id, f.data, f.len < 16 ? f.len : 16);
            }
            break;
        case 2:
            if (f.wt == 2) {
                memset(rec.span_id, 0, 8);
                memcpy(rec.span_id, f.data, f.len < 8 ? f.len : 8);
            }
            break;
        case 5:
            if (f.wt == 2) name = f.data, name_len = f.len;
            break;
        case 8:
            if (f.wt == 1) rec.end_time = f.v;
            break;
        case 9:
            if (f.wt == 2 && scan_kv(st, f.data, f.len, &sc)) return -1;
            break;
        }
    }
    int named = name_len >= 10 && memcmp(name, "inference ", 10) == 0;
    if (!sc.inference_attr && !named) {
        st->cells.len = cells_before;
        return 0;
    }
    if (sc.model < 0 && named && name_len > 10) {
        sc.model = intern(st, name + 10, name_len - 10);
        if (sc.model < 0) return -1;
    }
    rec.model = sc.model;
    rec.version = sc.version;
    rec.pid = sc.pid;
    rec.nrows = sc.has_array ? sc.maxlen : 1;
    rec.offset = offset;
    if (gb_push(&st->spans, &rec, sizeof rec, &st->nomem)) return -1;
    st->nspans++;
    return 0;
}

/* Walk nested messages: field `want` (LEN) of each level, down to spans at depth 2. */
static int scan_level(state *st, const uint8_t *p, size_t n, int depth) {
    const uint8_t *end = p + n;
    fld f;
    uint32_t want = depth == 0 ? 1 : 2;
    while (p < end) {
        const uint8_t *tag = p;
        if (next_field(&p, end, &f)) return -1;
        if (f.field != want || f.wt != 2) continue;
        int rc = depth == 2 ? scan_span(st, f.data, f.len, (int64_t)(tag - st->base))
                            : scan_level(st, f.data, f.len, depth + 1);
        if (rc) return -1;
    }
    return 0;
}

/* Per-thread scratch reused across calls: fresh buffers per request cost a page fault per 4 KiB,
 * which was a third of the scan's time. Bounded by the largest request a thread has scanned (and
 * released above SCRATCH_KEEP); the sidecar scans on a few long-lived threads. */
#define SCRATCH_KEEP (64u << 20)
static __thread state scratch;

static void scratch_release(state *st) {
    growbuf *bufs[] = {&st->spans, &st->cells, &st->strs};
    for (int i = 0; i < 3; i++) {
        if (bufs[i]->cap > SCRATCH_KEEP) {
            free(bufs[i]->buf);
            bufs[i]->buf = NULL;
            bufs[i]->cap = 0;
        }
        bufs[i]->len = 0;
    }
    if (st->nslots > 8192) { /* cleared on every call: keep it small */
        free(st->slots);
        st->slots = NULL;
        st->nslots = 0;
    }
    scratch = *st;
}

static PyObject *fastscan_scan(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    state st = scratch;
    PyObject *result = NULL, *strings = NULL;
    int rc;
    memset(&scratch, 0, sizeof scratch); /* owned by this call until scratch_release */
    st.used = 0;
    st.nspans = 0;
    st.nomem = 0;
    st.spans.len = st.cells.len = st.strs.len = 0;
    if (!st.slots) {
        st.nslots = 256;
        st.slots = malloc(st.nslots * sizeof(slot));
    }
    size_t n = (size_t)view.len, want_cells = (n / 24 + 16) * sizeof(cell_rec);
    size_t want_spans = (n / 128 + 16) * sizeof(span_rec);
    if (!st.slots || (st.cells.cap < want_cells && gb_reserve(&st.cells, want_cells)) ||
        (st.spans.cap < want_spans && gb_reserve(&st.spans, want_spans)) ||
        (st.strs.cap < 4096 * sizeof(strref) && gb_reserve(&st.strs, 4096 * sizeof(strref)))) {
        PyErr_NoMemory();
        goto done;
    }
    memset(st.slots, 0, st.nslots * sizeof(slot));
    st.base = (const uint8_t *)view.buf;
    Py_BEGIN_ALLOW_THREADS
    rc = scan_level(&st, (const uint8_t *)view.buf, n, 0);
    Py_END_ALLOW_THREADS
    if (rc) {
        if (st.nomem) PyErr_NoMemory();
        else PyErr_SetString(PyExc_ValueError, "malformed ExportTraceServiceRequest (or one left to protobuf)");
        goto done;
    }
    size_t nstr = st.strs.len / sizeof(strref);
    strings = PyList_New((Py_ssize_t)nstr);
    if (!strings) goto done;
    for (size_t i = 0; i < nstr; i++) {
        const strref *r = (const strref *)st.strs.buf + i;
        PyObject *u = PyUnicode_DecodeUTF8((const char *)r->p, (Py_ssize_t)r->len, "strict");
        if (!u) goto done; /* UnicodeDecodeError is a ValueError: the caller falls back to protobuf */
        PyList_SET_ITEM(strings, (Py_ssize_t)i, u);
    }
    result = Py_BuildValue("(y#y#O)", st.spans.buf, (Py_ssize_t)st.spans.len, st.cells.buf,
                           (Py_ssize_t)st.cells.len, strings);
done:
    scratch_release(&st);
    Py_XDECREF(strings);
    PyBuffer_Release(&view);
    return result;
}


/* ---- check_traces: would protobuf accept these bytes, and are all span ids valid? ---------------
 * A schema walk of ExportTraceServiceRequest that checks the wire format of every nested message and
 * the UTF-8 of every string field, as the protobuf (upb) parser does. It never accepts what protobuf
 * rejects; it may refuse what protobuf accepts (groups, very deep nesting), and the caller then uses
 * protobuf. */

enum { T_STR = 1, T_MSG = 2, T_CELL = 3 }; /* T_CELL: a message that is one cell */
typedef struct schema schema;
typedef struct {
    uint32_t field;
    int type;
    const schema *sub;
} fdesc;
struct schema {
    int n;
    const fdesc *f;
};

static const schema S_ANY, S_KV, S_ARRAY, S_KVLIST, S_RESOURCE, S_ENTITY, S_SCOPE, S_EVENT, S_LINK, S_STATUS;
static const fdesc F_KV[] = {{1, T_STR, NULL}, {2, T_MSG, &S_ANY}};
static const fdesc F_ANY[] = {{1, T_STR, NULL}, {5, T_MSG, &S_ARRAY}, {6, T_MSG, &S_KVLIST}};
static const fdesc F_ARRAY[] = {{1, T_CELL, &S_ANY}};
static const fdesc F_KVLIST[] = {{1, T_CELL, &S_KV}};
static const fdesc F_RESOURCE[] = {{1, T_CELL, &S_KV}, {3, T_MSG, &S_ENTITY}};
static const fdesc F_ENTITY[] = {{1, T_STR, NULL}, {2, T_STR, NULL}, {3, T_STR, NULL}, {4, T_STR, NULL}};
static const fdesc F_SCOPE[] = {{1, T_STR, NULL}, {2, T_STR, NULL}, {3, T_CELL, &S_KV}};
static const fdesc F_SPAN[] = {{3, T_STR, NULL}, {5, T_STR, NULL}, {9, T_CELL, &S_KV},
                               {11, T_MSG, &S_EVENT}, {13, T_MSG, &S_LINK}, {15, T_MSG, &S_STATUS}};
static const fdesc F_EVENT[] = {{2, T_STR, NULL}, {3, T_CELL, &S_KV}};
static const fdesc F_LINK[] = {{3, T_STR, NULL}, {4, T_CELL, &S_KV}};
static const fdesc F_STATUS[] = {{2, T_STR, NULL}};
#define SCHEMA(name, fields) static const schema name = {(int)(sizeof(fields) / sizeof(fields[0])), fields}
SCHEMA(S_KV, F_KV);
SCHEMA(S_ANY, F_ANY);
SCHEMA(S_ARRAY, F_ARRAY);
SCHEMA(S_KVLIST, F_KVLIST);
SCHEMA(S_RESOURCE, F_RESOURCE);
SCHEMA(S_ENTITY, F_ENTITY);
SCHEMA(S_SCOPE, F_SCOPE);
SCHEMA(S_SPAN, F_SPAN);
SCHEMA(S_EVENT, F_EVENT);
SCHEMA(S_LINK, F_LINK);
SCHEMA(S_STATUS, F_STATUS);

#define MAX_DEPTH 64

static int utf8_ok(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) return 0;
            if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F)) return 0;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
                (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F)) return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static int check_msg(const uint8_t *p, size_t n, const schema *sc, int depth, long long *cells);

/* `*cells` counts the request's cells: KeyValues (attributes, kvlist entries) and array elements
   (T_CELL fields). callgrind on 512 spans x 25 attributes: the count adds 4 % to the check; a
   __thread counter (a __tls_get_addr call per access in a shared object) added 11 %, returning the
   count instead of passing a pointer 5.5 %. */
static int check_field(const fld *f, const schema *sc, int depth, long long *cells) {
    if (f->wt != 2) return 0;
    for (int i = 0; i < sc->n; i++) {
        if (sc->f[i].field != f->field) continue;
        if (sc->f[i].type == T_STR) return utf8_ok(f->data, f->len) ? 0 : -1;
        *cells += sc->f[i].type == T_CELL;
        return check_msg(f->data, f->len, sc->f[i].sub, depth + 1, cells);
    }
    return 0;
}

static int check_msg(const uint8_t *p, size_t n, const schema *sc, int depth, long long *cells) {
    const uint8_t *end = p + n;
    fld f;
    if (depth > MAX_DEPTH) return -1;
    while (p < end) {
        if (next_field(&p, end, &f) || check_field(&f, sc, depth, cells)) return -1;
    }
    return 0;
}

static int nonzero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 1;
    return 0;
}

/* Returns 1 when the span's ids are valid (16/8 bytes, not all zero), 0 if not, -1 on bad bytes. */
static int check_span(const uint8_t *p, size_t n, long long *cells) {
    const uint8_t *end = p + n, *tid = NULL, *sid = NULL;
    size_t tlen = 0, slen = 0;
    fld f;
    while (p < end) {
        if (next_field(&p, end, &f)) return -1;
        if (f.wt == 2 && f.field == 1) tid = f.data, tlen = f.len;
        else if (f.wt == 2 && f.field == 2) sid = f.data, slen = f.len;
        else if (check_field(&f, &S_SPAN, 3, cells)) return -1;
    }
    return tlen == 16 && slen == 8 && nonzero(tid, 16) && nonzero(sid, 8);
}

static int check_request(const uint8_t *p, const uint8_t *end, long long *spans, long long *bad,
                         long long *cells) {
    fld rs = {0}, ss = {0}, sp = {0}; /* zeroed for gcc's -Wmaybe-uninitialized once next_field is inlined */
    while (p < end) {
        if (next_field(&p, end, &rs)) return -1;
        if (rs.field != 1 || rs.wt != 2) continue;
        const uint8_t *q = rs.data, *qend = rs.data + rs.len;
        while (q < qend) {
            if (next_field(&q, qend, &ss)) return -1;
            if (ss.wt != 2) continue;
            if (ss.field == 1) {
                if (check_msg(ss.data, ss.len, &S_RESOURCE, 2, cells)) return -1;
                continue;
            }
            if (ss.field == 3) {
                if (!utf8_ok(ss.data, ss.len)) return -1;
                continue;
            }
            if (ss.field != 2) continue;
            const uint8_t *r = ss.data, *rend = ss.data + ss.len;
            while (r < rend) {
                if (next_field(&r, rend, &sp)) return -1;
                if (sp.wt != 2) continue;
                if (sp.field == 1) {
                    if (check_msg(sp.data, sp.len, &S_SCOPE, 3, cells)) return -1;
                } else if (sp.field == 3) {
                    if (!utf8_ok(sp.data, sp.len)) return -1;
                } else if (sp.field == 2) {
                    int valid = check_span(sp.data, sp.len, cells);
                    if (valid < 0) return -1;
                    (*spans)++;
                    *bad += !valid;
                }
            }
        }
    }
    return 0;
}

static PyObject *fastscan_check_traces(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    long long spans = 0, bad = 0, cells = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = check_request((const uint8_t *)view.buf, (const uint8_t *)view.buf + view.len, &spans, &bad, &cells);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (rc) {
        PyErr_SetString(PyExc_ValueError, "not a valid ExportTraceServiceRequest (or one to leave to protobuf)");
        return NULL;
    }
    return Py_BuildValue("(LLL)", spans, bad, cells);
}

/* ---- labels: the `label {model}` spans of a traces request, as predstore/index.py `labels_of`
 * reads them from the decoded message (which defines the semantics; tests compare the two). Runs
 * with the GIL held (it builds the result as it goes). Returns -1 on bytes it does not read and -2
 * on values only the reference reads (non-scalar label values, a KeyValue's value given twice,
 * which protobuf merges); both make the caller fall back. */

typedef struct {
    anyv pid, value, delay;
    int has_pid, has_value, has_delay;
} label_attrs;

static int label_kv(const uint8_t *p, size_t n, label_attrs *la) {
    const uint8_t *key, *val;
    size_t klen, vlen;
    int has_value, rc = read_kv(p, n, &key, &klen, &val, &vlen, &has_value);
    anyv v;
    if (rc) return rc;
    v.kind = K_NONE;
    if (has_value && parse_any(val, vlen, &v)) return -2;
    if (has_value && v.kind == K_NONE) v.kind = -1; /* a value the reference turns into something */
    if (KEY_IS("ml.prediction.id")) la->pid = v, la->has_pid = 1;
    else if (KEY_IS("ml.label.value")) la->value = v, la->has_value = 1;
    else if (KEY_IS("ml.label.delay")) la->delay = v, la->has_delay = 1;
    return 0;
}

static PyObject *label_scalar(const anyv *v) {
    switch (v->kind) {
    case K_STR: return PyUnicode_DecodeUTF8((const char *)v->s, (Py_ssize_t)v->slen, "strict");
    case K_BOOL: return PyBool_FromLong((long)v->inum);
    case K_INT: return PyLong_FromLongLong(v->inum);
    case K_DOUBLE: return PyFloat_FromDouble(v->dnum);
    default: return NULL;
    }
}

static int label_span(const uint8_t *p, size_t n, PyObject *out) {
    const uint8_t *end = p + n, *q = p, *name = NULL, *tid = NULL;
    size_t nlen = 0, tlen = 0;
    uint64_t end_ns = 0;
    fld f = {0};
    while (q < end) {
        if (next_field(&q, end, &f)) return -1;
        if (f.field == 1 && f.wt == 2) tid = f.data, tlen = f.len;
        else if (f.field == 5 && f.wt == 2) name = f.data, nlen = f.len;
        else if (f.field == 8 && f.wt == 1) end_ns = f.v;
    }
    if (nlen < 6 || memcmp(name, "label ", 6) != 0) return 0;
    label_attrs la;
    memset(&la, 0, sizeof la);
    for (q = p; q < end;) {
        if (next_field(&q, end, &f)) return -1;
        if (f.field == 9 && f.wt == 2) {
            int rc = label_kv(f.data, f.len, &la);
            if (rc) return rc;
        }
    }
    if (!la.has_pid || la.pid.kind != K_STR || la.pid.slen == 0 || !la.has_value) return 0;
    if (la.value.kind < K_STR || la.value.kind > K_DOUBLE) return -2;
    PyObject *delay;
    if (la.has_delay && (la.delay.kind == K_BOOL || la.delay.kind == K_INT))
        delay = PyFloat_FromDouble((double)la.delay.inum);
    else if (la.has_delay && la.delay.kind == K_DOUBLE)
        delay = PyFloat_FromDouble(la.delay.dnum);
    else
        delay = Py_NewRef(Py_None);
    PyObject *pid = label_scalar(&la.pid), *value = pid ? label_scalar(&la.value) : NULL;
    PyObject *trace = value ? PyBytes_FromStringAndSize((const char *)tid, (Py_ssize_t)tlen) : NULL;
    PyObject *item = trace && delay ? Py_BuildValue("(OOKOO)", pid, value, (unsigned long long)end_ns,
                                                    delay, trace)
                                    : NULL;
    Py_XDECREF(pid);
    Py_XDECREF(value);
    Py_XDECREF(trace);
    Py_XDECREF(delay);
    if (item == NULL) return -3;
    int rc = PyList_Append(out, item);
    Py_DECREF(item);
    return rc ? -3 : 0;
}

static PyObject *fastscan_labels(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    PyObject *out = PyList_New(0);
    const uint8_t *p = view.buf, *end = p + view.len;
    fld rs = {0}, ss = {0}, sp = {0};
    int rc = out == NULL ? -3 : 0;
    while (!rc && p < end) {
        if (next_field(&p, end, &rs)) rc = -1;
        if (rc || rs.field != 1 || rs.wt != 2) continue;
        for (const uint8_t *q = rs.data, *qend = rs.data + rs.len; !rc && q < qend;) {
            if (next_field(&q, qend, &ss)) rc = -1;
            if (rc || ss.field != 2 || ss.wt != 2) continue;
            for (const uint8_t *r = ss.data, *rend = ss.data + ss.len; !rc && r < rend;) {
                if (next_field(&r, rend, &sp)) rc = -1;
                else if (sp.field == 2 && sp.wt == 2) rc = label_span(sp.data, sp.len, out);
            }
        }
    }
    PyBuffer_Release(&view);
    if (rc == 0) return out;
    Py_XDECREF(out);
    if (rc == -3) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return NULL; /* memory */
        PyErr_Clear();
    }
    PyErr_SetString(PyExc_ValueError, "label spans need the reference decoder");
    return NULL;
}

static PyMethodDef methods[] = {
    {"scan", fastscan_scan, METH_O,
     "scan(data) -> (spans: bytes, cells: bytes, strings: list[str]) for the inference spans of a "
     "serialized ExportTraceServiceRequest; ValueError on malformed input."},
    {"check_traces", fastscan_check_traces, METH_O,
     "check_traces(data) -> (spans, spans_with_invalid_ids, cells) for a serialized ExportTraceServiceRequest that "
     "protobuf would accept; ValueError when the bytes are invalid or need the protobuf parser."},
    {"labels", fastscan_labels, METH_O,
     "labels(data) -> [(prediction id, label value, end time ns, delay s or None, trace id)] of the "
     "`label {model}` spans of a serialized ExportTraceServiceRequest; ValueError when the reference "
     "must read them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastscan(void) { return PyModule_Create(&module); }
