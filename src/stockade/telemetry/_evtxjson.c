/* flatten(raw) == eventlog.flatten_record(orjson.loads(raw)) for the common EVTX record, in C.
 *
 * Decoding a record's JSON into nested dicts and then flattening them in Python costs more than
 * the rest of a hunt's work on the record. This reads the parser's compact JSON once and builds
 * the flat event directly. It handles the shape nearly every record has (System, plain named
 * EventData values); for anything else (UserData, unnamed or nested data, whitespace, fractions,
 * escapes it does not know) it returns None and the caller takes the Python path, which
 * defines the result. Tests compare both on every regression record.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const char *at;
    const char *end;
} Cursor;

/* Parse results: 1 done, 0 not for this reader (the caller falls back), -1 error set. */
#define FALLBACK 0

static int skip_value(Cursor *c, int depth);

static int hex4(const char *p, unsigned *value) {
    unsigned result = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        result <<= 4;
        if (h >= '0' && h <= '9') result |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') result |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') result |= (unsigned)(h - 'A' + 10);
        else return 0;
    }
    *value = result;
    return 1;
}

/* A JSON string at c->at (the opening quote): sets start and length to its raw bytes and
 * *escaped: 1 when it holds a backslash, | 2 when it holds a byte beyond ASCII. */
static int scan_string(Cursor *c, const char **start, Py_ssize_t *length, int *escaped) {
    if (c->at >= c->end || *c->at != '"') return FALLBACK;
    const char *p = ++c->at;
    unsigned char high = 0;
    *escaped = 0;
    while (p < c->end) {
        unsigned char byte = (unsigned char)*p;
        if (byte == '"') {
            *start = c->at;
            *length = p - c->at;
            c->at = p + 1;
            if (high & 0x80) *escaped |= 2; /* not ASCII */
            return 1;
        }
        high |= byte;
        if (byte == '\\') { /* checked here, so that skipped values are valid JSON too */
            *escaped = 1;
            if (p + 1 >= c->end) return FALLBACK;
            char kind = p[1];
            if (kind == 'u') {
                unsigned code, low;
                if (c->end - p < 6 || !hex4(p + 2, &code)) return FALLBACK;
                p += 6;
                if (code >= 0xDC00 && code <= 0xDFFF) return FALLBACK;
                if (code >= 0xD800 && code <= 0xDBFF) {
                    if (c->end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) ||
                        low < 0xDC00 || low > 0xDFFF)
                        return FALLBACK;
                    p += 6;
                }
                continue;
            }
            if (kind == 0 || strchr("\"\\/bfnrt", kind) == NULL) return FALLBACK;
            p += 2;
            continue;
        }
        if (byte < 0x20) return FALLBACK; /* raw control character: not JSON */
        p++;
    }
    return FALLBACK;
}


static char *put_utf8(char *out, unsigned code) {
    if (code < 0x80) {
        *out++ = (char)code;
    } else if (code < 0x800) {
        *out++ = (char)(0xC0 | (code >> 6));
        *out++ = (char)(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
        *out++ = (char)(0xE0 | (code >> 12));
        *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code & 0x3F));
    } else {
        *out++ = (char)(0xF0 | (code >> 18));
        *out++ = (char)(0x80 | ((code >> 12) & 0x3F));
        *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
        *out++ = (char)(0x80 | (code & 0x3F));
    }
    return out;
}

/* The str of a scanned JSON string; NULL with no error set means fall back. */
static PyObject *make_string(const char *start, Py_ssize_t length, int escaped) {
    if (!escaped) { /* plain ASCII: a copy, no decoding */
        PyObject *text = PyUnicode_New(length, 127);
        if (text != NULL) memcpy(PyUnicode_DATA(text), start, (size_t)length);
        return text;
    }
    if (!(escaped & 1)) return PyUnicode_DecodeUTF8(start, length, "strict");
    char stack[512];
    char *buffer = length <= (Py_ssize_t)sizeof stack ? stack : PyMem_Malloc((size_t)length);
    if (buffer == NULL) return PyErr_NoMemory();
    char *out = buffer;
    const char *p = start, *end = start + length;
    PyObject *result = NULL;
    while (p < end) {
        if (*p != '\\') {
            *out++ = *p++;
            continue;
        }
        if (p + 1 >= end) goto done;
        char kind = p[1];
        p += 2;
        switch (kind) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '/': *out++ = '/'; break;
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'u': {
            unsigned code;
            if (p + 4 > end || !hex4(p, &code)) goto done;
            p += 4;
            if (code >= 0xD800 && code <= 0xDBFF) { /* a pair, or nothing for us */
                unsigned low;
                if (p + 6 > end || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) ||
                    low < 0xDC00 || low > 0xDFFF)
                    goto done;
                p += 6;
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            } else if (code >= 0xDC00 && code <= 0xDFFF) {
                goto done;
            }
            /* \uXXXX takes six bytes and gives at most four: the buffer is big enough. */
            out = put_utf8(out, code);
            break;
        }
        default: goto done;
        }
    }
    result = PyUnicode_DecodeUTF8(buffer, out - buffer, "strict");
done:
    if (buffer != stack) PyMem_Free(buffer);
    return result;
}

/* A scalar value: str, int (plain decimal integer), True, False or None. NULL with no error:
 * not a scalar this reader handles. */
static PyObject *parse_scalar(Cursor *c) {
    if (c->at >= c->end) return NULL;
    char first = *c->at;
    if (first == '"') {
        const char *start;
        Py_ssize_t length;
        int escaped;
        if (scan_string(c, &start, &length, &escaped) != 1) return NULL;
        return make_string(start, length, escaped);
    }
    if (first == '-' || (first >= '0' && first <= '9')) {
        const char *p = c->at;
        int negative = *p == '-';
        p += negative;
        const char *digits = p;
        long long value = 0;
        while (p < c->end && *p >= '0' && *p <= '9') {
            if (p - digits >= 18) return NULL;
            value = value * 10 + (*p++ - '0');
        }
        if (p == digits || (*digits == '0' && p - digits > 1)) return NULL;
        if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E')) return NULL;
        c->at = p;
        return PyLong_FromLongLong(negative ? -value : value);
    }
    if (c->end - c->at >= 4 && memcmp(c->at, "true", 4) == 0) {
        c->at += 4;
        Py_RETURN_TRUE;
    }
    if (c->end - c->at >= 5 && memcmp(c->at, "false", 5) == 0) {
        c->at += 5;
        Py_RETURN_FALSE;
    }
    if (c->end - c->at >= 4 && memcmp(c->at, "null", 4) == 0) {
        c->at += 4;
        Py_RETURN_NONE;
    }
    return NULL;
}

static int expect(Cursor *c, char byte) {
    if (c->at < c->end && *c->at == byte) {
        c->at++;
        return 1;
    }
    return FALLBACK;
}

/* Walks the members of an object at c->at ('{'): for each, scans the name and calls visit
 * with the cursor at the value, which visit must consume. */
typedef int (*Visit)(Cursor *c, const char *name, Py_ssize_t length, int escaped, void *state);

static int each_member(Cursor *c, Visit visit, void *state) {
    if (!expect(c, '{')) return FALLBACK;
    if (expect(c, '}')) return 1;
    for (;;) {
        const char *name;
        Py_ssize_t length;
        int escaped;
        if (scan_string(c, &name, &length, &escaped) != 1 || !expect(c, ':')) return FALLBACK;
        int status = visit(c, name, length, escaped, state);
        if (status != 1) return status;
        if (expect(c, ',')) continue;
        return expect(c, '}');
    }
}

static int skip_member(Cursor *c, const char *name, Py_ssize_t length, int escaped, void *state) {
    return skip_value(c, *(int *)state);
}

static int skip_value(Cursor *c, int depth) {
    if (depth > 64 || c->at >= c->end) return FALLBACK;
    char first = *c->at;
    if (first == '{') {
        int inner = depth + 1;
        return each_member(c, skip_member, &inner);
    }
    if (first == '[') {
        c->at++;
        if (expect(c, ']')) return 1;
        for (;;) {
            if (skip_value(c, depth + 1) != 1) return FALLBACK;
            if (expect(c, ',')) continue;
            return expect(c, ']');
        }
    }
    if (first == '"') {
        const char *start;
        Py_ssize_t length;
        int escaped;
        return scan_string(c, &start, &length, &escaped);
    }
    PyObject *scalar = parse_scalar(c);
    if (scalar == NULL) return PyErr_Occurred() ? -1 : FALLBACK;
    Py_DECREF(scalar);
    return 1;
}

static int is_name(const char *name, Py_ssize_t length, const char *wanted) {
    return (Py_ssize_t)strlen(wanted) == length && memcmp(name, wanted, (size_t)length) == 0;
}

/* ------------------------------------------------------------ System */

enum { F_CHANNEL, F_COMPUTER, F_RECORD, F_LEVEL, F_TASK, F_KEYWORDS, F_VERSION, F_SCALARS };
static const char *SCALAR_NAMES[F_SCALARS] = {"Channel", "Computer", "EventRecordID", "Level",
                                              "Task",    "Keywords", "Version"};
static const int SCALAR_NUMBERS[F_SCALARS] = {0, 0, 1, 1, 1, 0, 1};

typedef struct {
    unsigned seen; /* members met: a repeated one is left to the decoder */
    PyObject *event_id;
    PyObject *scalars[F_SCALARS]; /* NULL: absent */
    PyObject *provider_name, *provider_guid, *time_created, *user_id;
} System;

static void system_clear(System *s) {
    Py_CLEAR(s->event_id);
    for (int i = 0; i < F_SCALARS; i++) Py_CLEAR(s->scalars[i]);
    Py_CLEAR(s->provider_name);
    Py_CLEAR(s->provider_guid);
    Py_CLEAR(s->time_created);
    Py_CLEAR(s->user_id);
}

static int ascii_digits(PyObject *text) {
    if (!PyUnicode_IS_ASCII(text) || PyUnicode_GET_LENGTH(text) == 0) return 0;
    const char *p = (const char *)PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(text); i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    return 1;
}

/* str or int only (what `_scalar` returns unchanged); NULL with no error: fall back. */
static PyObject *plain_scalar(Cursor *c) {
    PyObject *value = parse_scalar(c);
    if (value == NULL) return NULL;
    if (!PyUnicode_CheckExact(value) && !PyLong_CheckExact(value)) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

typedef struct {
    const char *names[2];
    PyObject **targets[2];
    int seen; /* "#attributes" met */
} Attributes;

static int attribute_member(Cursor *c, const char *name, Py_ssize_t length, int escaped,
                            void *state) {
    Attributes *attributes = state;
    if (escaped & 1) return FALLBACK; /* "N\u0061me" is Name once decoded */
    for (int i = 0; i < 2 && attributes->names[i] != NULL; i++) {
        if (is_name(name, length, attributes->names[i])) {
            PyObject *value = plain_scalar(c);
            if (value == NULL) return PyErr_Occurred() ? -1 : FALLBACK;
            Py_XSETREF(*attributes->targets[i], value);
            return 1;
        }
    }
    int depth = 3;
    return skip_value(c, depth);
}

static int holder_member(Cursor *c, const char *name, Py_ssize_t length, int escaped,
                         void *state) {
    Attributes *attributes = state;
    if (escaped & 1) return FALLBACK;
    if (is_name(name, length, "#attributes")) {
        if (attributes->seen || c->at >= c->end || *c->at != '{') return FALLBACK;
        attributes->seen = 1;
        return each_member(c, attribute_member, attributes);
    }
    return skip_value(c, 3);
}

/* {"#attributes": {"Name": ..., ...}, ...}: the wanted attributes. */
static int read_attributes(Cursor *c, Attributes *attributes) {
    if (c->at >= c->end || *c->at != '{') return FALLBACK;
    return each_member(c, holder_member, attributes);
}

static int system_member(Cursor *c, const char *name, Py_ssize_t length, int escaped,
                         void *state) {
    System *s = state;
    if (escaped & 1) return FALLBACK;
    if (is_name(name, length, "EventID")) {
        if (s->seen & (1u << F_SCALARS)) return FALLBACK;
        s->seen |= 1u << F_SCALARS;
        PyObject *value = parse_scalar(c);
        if (value == NULL) return PyErr_Occurred() ? -1 : FALLBACK;
        if (PyUnicode_CheckExact(value)) {
            if (!ascii_digits(value)) {
                Py_DECREF(value);
                return FALLBACK;
            }
            PyObject *number = PyLong_FromUnicodeObject(value, 10);
            Py_DECREF(value);
            if (number == NULL) return -1;
            value = number;
        } else if (!PyLong_CheckExact(value) && value != Py_None) {
            Py_DECREF(value);
            return FALLBACK;
        }
        Py_XSETREF(s->event_id, value);
        return 1;
    }
    for (int i = 0; i < F_SCALARS; i++) {
        if (!is_name(name, length, SCALAR_NAMES[i])) continue;
        if (s->seen & (1u << i)) return FALLBACK;
        s->seen |= 1u << i;
        PyObject *value = plain_scalar(c);
        if (value == NULL) return PyErr_Occurred() ? -1 : FALLBACK;
        if (SCALAR_NUMBERS[i] && PyUnicode_CheckExact(value)) {
            if (ascii_digits(value)) {
                PyObject *number = PyLong_FromUnicodeObject(value, 10);
                Py_DECREF(value);
                if (number == NULL) return -1;
                value = number;
            } else if (!PyUnicode_IS_ASCII(value)) { /* str.isdigit() knows other digits */
                Py_DECREF(value);
                return FALLBACK;
            }
        }
        Py_XSETREF(s->scalars[i], value);
        return 1;
    }
    if (is_name(name, length, "Provider")) {
        if (s->seen & (1u << (F_SCALARS + 1))) return FALLBACK;
        s->seen |= 1u << (F_SCALARS + 1);
        Attributes attributes = {{"Name", "Guid"}, {&s->provider_name, &s->provider_guid}, 0};
        return read_attributes(c, &attributes);
    }
    if (is_name(name, length, "TimeCreated")) {
        if (s->seen & (1u << (F_SCALARS + 2))) return FALLBACK;
        s->seen |= 1u << (F_SCALARS + 2);
        Attributes attributes = {{"SystemTime", NULL}, {&s->time_created, NULL}, 0};
        return read_attributes(c, &attributes);
    }
    if (is_name(name, length, "Security")) {
        if (s->seen & (1u << (F_SCALARS + 3))) return FALLBACK;
        s->seen |= 1u << (F_SCALARS + 3);
        Attributes attributes = {{"UserID", NULL}, {&s->user_id, NULL}, 0};
        return read_attributes(c, &attributes);
    }
    return skip_value(c, 2);
}

/* ------------------------------------------------------------ EventData and Event */

typedef struct {
    PyObject *flat;
    int has_event, has_system, has_data;
    System system;
} Record;

/* EventData names repeat from record to record: the str of each is kept (hash included). */
#define NAME_SLOTS 1024
static PyObject *name_cache[NAME_SLOTS];

static PyObject *data_name(const char *name, Py_ssize_t length, int escaped) {
    if (escaped) return make_string(name, length, escaped);
    uint32_t hash = 2166136261u;
    for (Py_ssize_t i = 0; i < length; i++) hash = (hash ^ (unsigned char)name[i]) * 16777619u;
    PyObject **slot = &name_cache[hash % NAME_SLOTS];
    PyObject *cached = *slot;
    if (cached != NULL && PyUnicode_GET_LENGTH(cached) == length &&
        memcmp(PyUnicode_DATA(cached), name, (size_t)length) == 0) {
        Py_INCREF(cached);
        return cached;
    }
    PyObject *key = make_string(name, length, 0);
    if (key == NULL) return NULL;
    Py_INCREF(key);
    Py_XSETREF(*slot, key);
    return key;
}

static int data_member(Cursor *c, const char *name, Py_ssize_t length, int escaped, void *state) {
    Record *record = state;
    /* What `_plain` lets through: no spaces, no leading '#', not "Data", scalar values. */
    if ((escaped & 1) || length == 0 || name[0] == '#' || memchr(name, ' ', (size_t)length) != NULL ||
        is_name(name, length, "Data"))
        return FALLBACK;
    PyObject *value = parse_scalar(c);
    if (value == NULL) return PyErr_Occurred() ? -1 : FALLBACK;
    PyObject *key = data_name(name, length, escaped);
    if (key == NULL) {
        Py_DECREF(value);
        return -1;
    }
    int status = PyDict_SetItem(record->flat, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    return status < 0 ? -1 : 1;
}

static int event_member(Cursor *c, const char *name, Py_ssize_t length, int escaped, void *state) {
    Record *record = state;
    if (escaped & 1) return FALLBACK;
    if (is_name(name, length, "System")) {
        if (record->has_system) return FALLBACK; /* a repeated member: let the decoder decide */
        record->has_system = 1;
        if (c->at >= c->end || *c->at != '{') return FALLBACK;
        return each_member(c, system_member, &record->system);
    }
    if (is_name(name, length, "EventData")) {
        if (record->has_data) return FALLBACK;
        record->has_data = 1;
        if (c->end - c->at >= 4 && memcmp(c->at, "null", 4) == 0) {
            c->at += 4;
            return 1;
        }
        if (c->at >= c->end || *c->at != '{') return FALLBACK;
        return each_member(c, data_member, record);
    }
    if (is_name(name, length, "UserData")) return FALLBACK;
    return skip_value(c, 2);
}

static int root_member(Cursor *c, const char *name, Py_ssize_t length, int escaped, void *state) {
    Record *record = state;
    if ((escaped & 1) || !is_name(name, length, "Event") || record->has_event) return FALLBACK;
    record->has_event = 1; /* a repeated member: the decoder keeps the last, let it decide */
    return each_member(c, event_member, state);
}

static PyObject *SYSTEM_KEYS[F_SCALARS + 5]; /* the scalars, EventID, Provider_Name, ... */
static const char *EXTRA_NAMES[5] = {"EventID", "Provider_Name", "Provider_Guid", "TimeCreated",
                                     "UserID"};

static int set_key(PyObject *flat, int key, PyObject *value) {
    if (value == NULL) return 0;
    return PyDict_SetItem(flat, SYSTEM_KEYS[key], value);
}

static PyObject *flatten(PyObject *module, PyObject *raw) {
    if (!PyUnicode_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "flatten() takes the record as str");
        return NULL;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(raw, &size);
    if (text == NULL) { /* lone surrogates: the decoder reports them */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Record record = {0};
    record.flat = PyDict_New();
    if (record.flat == NULL) return NULL;
    Cursor cursor = {text, text + size};
    int status = each_member(&cursor, root_member, &record);
    if (status == 1 && (cursor.at != cursor.end || !record.has_system)) status = FALLBACK;
    if (status == 1) {
        /* System last, as flatten_record does: its fields win over data of the same name. */
        System *s = &record.system;
        if (set_key(record.flat, F_SCALARS, s->event_id != NULL ? s->event_id : Py_None) < 0)
            status = -1;
        for (int i = 0; status == 1 && i < F_SCALARS; i++)
            if (set_key(record.flat, i, s->scalars[i]) < 0) status = -1;
        if (status == 1 && (set_key(record.flat, F_SCALARS + 1, s->provider_name) < 0 ||
                            set_key(record.flat, F_SCALARS + 2, s->provider_guid) < 0 ||
                            set_key(record.flat, F_SCALARS + 3, s->time_created) < 0 ||
                            set_key(record.flat, F_SCALARS + 4, s->user_id) < 0))
            status = -1;
    }
    system_clear(&record.system);
    if (status == 1) return record.flat;
    Py_DECREF(record.flat);
    if (status < 0 || PyErr_Occurred()) {
        /* A str that would not decode is the decoder's to report: fall back, keep no error. */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return NULL;
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"flatten", (PyCFunction)flatten, METH_O,
     "flatten_record(orjson.loads(raw)) for common EVTX records; None for the others."},
    {NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stockade.telemetry._evtxjson",
    .m_doc = "Flat events straight from the EVTX parser's JSON (see eventlog.flatten_record).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__evtxjson(void) {
    for (int i = 0; i < F_SCALARS + 5; i++) {
        if (SYSTEM_KEYS[i] != NULL) continue;
        SYSTEM_KEYS[i] = PyUnicode_InternFromString(i < F_SCALARS ? SCALAR_NAMES[i]
                                                                  : EXTRA_NAMES[i - F_SCALARS]);
        if (SYSTEM_KEYS[i] == NULL) return NULL;
    }
    return PyModule_Create(&module_definition);
}
