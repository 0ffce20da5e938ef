/* Native raw-record judging for `prefilter.RuleScanner` (see scanplan and ADR 0010).
 *
 * The Python scan pays for its Hyperscan wrapper, a Python callback per literal found, a
 * regular expression that guards against records unfit for raw judging, and the clause checks
 * in Python: more than the scan itself. Here one call does all of it. It computes exactly what
 * the Python path computes; tests compare the two on every regression record.
 *
 *   Database(expressions, flags)   Hyperscan block-mode database, literal i = expression i
 *   Database.deserialize(data)     from Database.serialize()
 *   Scanner(database, by_literal, checked, unfit, count, exclusions, always)
 *   Scanner.scan(raw: str)         -> list of rule indexes, or None (judge the record in full)
 *
 * ``always`` rules are candidates of every record. With exclusions (exclusion.py), a candidate
 * whose exclusion holds on the record's EventData is left out: the one refinement the Python
 * scan does not make.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <hs.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The guard below implements exactly this expression (RAW_GUARD in scanplan). */
static const char GUARD_REGEX[] = " [^\"]*\":|\"#text\"|\":\\[|\":-?[0-9]+[.eE]";

/* ---------------------------------------------------------------- Database */

typedef struct {
    PyObject_HEAD
    hs_database_t *db;
    unsigned int count; /* expressions compiled: literal ids 0 .. count-1 */
} Database;

static PyTypeObject DatabaseType;

static void Database_dealloc(Database *self) {
    if (self->db != NULL) hs_free_database(self->db);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Database_init(Database *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"expressions", "flags", NULL};
    PyObject *expressions, *flags;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO", keywords, &expressions, &flags)) return -1;
    if (self->db != NULL) { /* scanners hold its scratch space and literal count */
        PyErr_SetString(PyExc_RuntimeError, "a Database is compiled once");
        return -1;
    }
    /* A tuple holds its items: the bytes stay alive while Hyperscan reads them unlocked. */
    PyObject *exprs = PySequence_Tuple(expressions);
    if (exprs == NULL) return -1;
    PyObject *flagseq = PySequence_Fast(flags, "flags must be a sequence");
    if (flagseq == NULL) {
        Py_DECREF(exprs);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(exprs);
    int result = -1;
    const char **patterns = NULL;
    unsigned int *pattern_flags = NULL, *ids = NULL;
    if (n == 0 || n != PySequence_Fast_GET_SIZE(flagseq) || n > UINT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "one flag per expression, and at least one expression");
        goto done;
    }
    patterns = PyMem_Calloc((size_t)n, sizeof(char *));
    pattern_flags = PyMem_Calloc((size_t)n, sizeof(unsigned int));
    ids = PyMem_Calloc((size_t)n, sizeof(unsigned int));
    if (patterns == NULL || pattern_flags == NULL || ids == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *expression = PySequence_Fast_GET_ITEM(exprs, i);
        if (!PyBytes_Check(expression)) {
            PyErr_SetString(PyExc_TypeError, "expressions must be bytes");
            goto done;
        }
        patterns[i] = PyBytes_AS_STRING(expression); /* always NUL-terminated */
        if ((Py_ssize_t)strlen(patterns[i]) != PyBytes_GET_SIZE(expression)) {
            PyErr_SetString(PyExc_ValueError, "an expression holds a NUL byte");
            goto done;
        }
        unsigned long value = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(flagseq, i));
        if (PyErr_Occurred()) goto done;
        pattern_flags[i] = (unsigned int)value;
        ids[i] = (unsigned int)i;
    }
    hs_compile_error_t *error = NULL;
    hs_database_t *db = NULL;
    hs_error_t status;
    Py_BEGIN_ALLOW_THREADS
    status = hs_compile_multi(patterns, pattern_flags, ids, (unsigned int)n, HS_MODE_BLOCK, NULL,
                              &db, &error);
    Py_END_ALLOW_THREADS
    if (status != HS_SUCCESS) {
        PyErr_Format(PyExc_ValueError, "Hyperscan refused expression %d: %s",
                     error != NULL ? error->expression : -1,
                     error != NULL ? error->message : "unknown error");
        hs_free_compile_error(error);
        goto done;
    }
    self->db = db;
    self->count = (unsigned int)n;
    result = 0;
done:
    PyMem_Free(patterns);
    PyMem_Free(pattern_flags);
    PyMem_Free(ids);
    Py_DECREF(exprs);
    Py_DECREF(flagseq);
    return result;
}

static PyObject *Database_serialize(Database *self, PyObject *unused) {
    if (self->db == NULL) {
        PyErr_SetString(PyExc_ValueError, "empty database");
        return NULL;
    }
    char *bytes = NULL;
    size_t length = 0;
    if (hs_serialize_database(self->db, &bytes, &length) != HS_SUCCESS) {
        PyErr_SetString(PyExc_RuntimeError, "Hyperscan could not serialise the database");
        return NULL;
    }
    /* The count travels in front of Hyperscan's bytes. */
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(length + 4));
    if (result != NULL) {
        char *target = PyBytes_AS_STRING(result);
        uint32_t count = self->count;
        memcpy(target, &count, 4);
        memcpy(target + 4, bytes, length);
    }
    free(bytes);
    return result;
}

static PyObject *Database_deserialize(PyTypeObject *type, PyObject *data) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    Database *self = NULL;
    if (view.len <= 4) {
        PyErr_SetString(PyExc_ValueError, "not a serialised database");
        goto done;
    }
    hs_database_t *db = NULL;
    if (hs_deserialize_database((const char *)view.buf + 4, (size_t)view.len - 4, &db) !=
        HS_SUCCESS) {
        PyErr_SetString(PyExc_ValueError, "Hyperscan refused the serialised database");
        goto done;
    }
    self = (Database *)type->tp_alloc(type, 0);
    if (self == NULL) {
        hs_free_database(db);
        goto done;
    }
    uint32_t count;
    memcpy(&count, view.buf, 4);
    self->db = db;
    self->count = count;
done:
    PyBuffer_Release(&view);
    return (PyObject *)self;
}

static PyObject *Database_get_count(Database *self, void *closure) {
    return PyLong_FromUnsignedLong(self->count);
}

static PyMethodDef Database_methods[] = {
    {"serialize", (PyCFunction)Database_serialize, METH_NOARGS, "The database as bytes."},
    {"deserialize", (PyCFunction)Database_deserialize, METH_O | METH_CLASS,
     "A database from serialize()."},
    {NULL},
};

static PyGetSetDef Database_getset[] = {
    {"count", (getter)Database_get_count, NULL, "Number of expressions.", NULL},
    {NULL},
};

static PyTypeObject DatabaseType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stockade.detection._rawscan.Database",
    .tp_basicsize = sizeof(Database),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Hyperscan block-mode database; the id of a match is its expression's index.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Database_init,
    .tp_dealloc = (destructor)Database_dealloc,
    .tp_methods = Database_methods,
    .tp_getset = Database_getset,
};

/* ---------------------------------------------------------------- Scanner */

typedef struct {
    uint32_t positive_start, positive_end, negative_start, negative_end; /* into ids */
} Clause;

typedef struct {
    uint32_t rule, clause_start, clause_end; /* into clauses */
} Entry;

/* A member of a record's EventData: the name and the value as the JSON text holds them. */
typedef struct {
    const char *name, *value;
    uint32_t name_size, value_size;
    int string;   /* the value is a JSON string (value is its body, escapes and all) */
    int lowered;  /* 0: not yet; 1: at lowered_at in Scanner.values; -1: not readable */
    int wide;     /* the value has non-ASCII characters */
    size_t lowered_at, lowered_size;
} Member;

#define MAX_MEMBERS 128
enum { TEST_EXACT, TEST_PREFIX, TEST_SUFFIX, TEST_CONTAINS, TEST_KINDS };
#define WIDE_LITERAL 0x100u /* marks a comparison whose literal has non-ASCII characters */

typedef struct {
    PyObject_HEAD
    Database *database; /* NULL: no literals */
    hs_scratch_t *scratch;
    uint32_t literals;
    uint32_t *literal_start; /* literals + 1: entries of literal i */
    Entry *entries;
    Entry *checked;
    uint32_t checked_count;
    Clause *clauses;
    uint32_t *ids;
    uint32_t *literal_stamp; /* == generation: found in this scan */
    uint32_t *found;
    uint32_t found_count;
    uint32_t *rule_stamp; /* == generation: already a candidate */
    uint32_t rules;
    uint32_t generation;
    uint64_t *hits; /* per literal, while counting */
    uint64_t scans;
    PyObject *unfit; /* tuple of bytes */
    uint32_t *always; /* candidates of every record (unless excluded) */
    uint32_t always_count;
    /* Exclusions (exclusion.py): per rule a range of alternatives, each a range of tests. */
    uint32_t *exclusion_ints; /* header, rules, alternatives, tests, comparisons, names */
    char *exclusion_pool;     /* names and literals */
    uint32_t *excluded_from, *excluded_to; /* per rule: its alternatives (from == to: none) */
    const uint32_t *alternatives, *tests, *comparisons, *names;
    Member members[MAX_MEMBERS]; /* EventData of the record scanned, once walked */
    int member_count;            /* -1: not walked (shape, nesting): nothing is excluded */
    uint32_t walked;             /* == generation: members are this record's */
    char *values;                /* the record's values read so far, unescaped, lower-cased */
    size_t values_size, values_capacity;
} Scanner;

/* Growable arrays used while reading the plan. */
typedef struct {
    uint32_t *items;
    size_t length, capacity;
} U32s;

static int push_u32(U32s *array, uint32_t value) {
    if (array->length == array->capacity) {
        size_t capacity = array->capacity ? array->capacity * 2 : 64;
        uint32_t *items = PyMem_Realloc(array->items, capacity * sizeof(uint32_t));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        array->items = items;
        array->capacity = capacity;
    }
    array->items[array->length++] = value;
    return 0;
}

static int read_u32(PyObject *value, uint32_t limit, const char *what, uint32_t *out) {
    unsigned long number = PyLong_AsUnsignedLong(value);
    if (PyErr_Occurred()) return -1;
    if (number >= limit) {
        PyErr_Format(PyExc_ValueError, "%s %lu out of range", what, number);
        return -1;
    }
    *out = (uint32_t)number;
    return 0;
}

/* Reads (rule, ((positive ids, negative ids), ...)) into an entry. The clause and id arrays
 * are kept as flat u32 lists: four per clause. */
static int read_entry(PyObject *item, uint32_t literals, U32s *clauses, U32s *ids, uint32_t *rule,
                      uint32_t *clause_start, uint32_t *clause_end) {
    PyObject *pair = PySequence_Fast(item, "an entry is (rule, checks)");
    if (pair == NULL) return -1;
    int result = -1;
    PyObject *checks = NULL;
    if (PySequence_Fast_GET_SIZE(pair) != 2) {
        PyErr_SetString(PyExc_ValueError, "an entry is (rule, checks)");
        goto done;
    }
    if (read_u32(PySequence_Fast_GET_ITEM(pair, 0), UINT32_MAX, "rule", rule) < 0) goto done;
    checks = PySequence_Fast(PySequence_Fast_GET_ITEM(pair, 1), "checks must be a sequence");
    if (checks == NULL) goto done;
    *clause_start = (uint32_t)(clauses->length / 4);
    for (Py_ssize_t c = 0; c < PySequence_Fast_GET_SIZE(checks); c++) {
        PyObject *clause = PySequence_Fast(PySequence_Fast_GET_ITEM(checks, c),
                                           "a clause is (positive, negative)");
        if (clause == NULL) goto done;
        if (PySequence_Fast_GET_SIZE(clause) != 2) {
            Py_DECREF(clause);
            PyErr_SetString(PyExc_ValueError, "a clause is (positive, negative)");
            goto done;
        }
        for (int side = 0; side < 2; side++) {
            if (push_u32(clauses, (uint32_t)ids->length) < 0) {
                Py_DECREF(clause);
                goto done;
            }
            PyObject *iterator = PyObject_GetIter(PySequence_Fast_GET_ITEM(clause, side));
            if (iterator == NULL) {
                Py_DECREF(clause);
                goto done;
            }
            PyObject *literal;
            while ((literal = PyIter_Next(iterator)) != NULL) {
                uint32_t id;
                int bad = read_u32(literal, literals, "literal id", &id) < 0 ||
                          push_u32(ids, id) < 0;
                Py_DECREF(literal);
                if (bad) break;
            }
            Py_DECREF(iterator);
            if (PyErr_Occurred() || push_u32(clauses, (uint32_t)ids->length) < 0) {
                Py_DECREF(clause);
                goto done;
            }
        }
        Py_DECREF(clause);
    }
    *clause_end = (uint32_t)(clauses->length / 4);
    result = 0;
done:
    Py_XDECREF(checks);
    Py_DECREF(pair);
    return result;
}

/* Reads exclusions as exclusion.encode() lays them out: (ints, pool). ints holds u32s:
 *   rules, alternatives, tests, comparisons, names      counts (the header)
 *   rules x (rule, first alternative, end)              alternatives x (first test, end)
 *   tests x (negated, first name, end, first comparison, end)
 *   comparisons x (kind, literal offset, size)          names x (offset, size)
 * with offsets into pool. Rules beyond the scan's own are never candidates here: left out. */
static int read_exclusions(Scanner *self, PyObject *exclusions) {
    PyObject *ints, *pool;
    if (!PyTuple_Check(exclusions) || PyTuple_GET_SIZE(exclusions) != 2 ||
        !PyBytes_Check(ints = PyTuple_GET_ITEM(exclusions, 0)) ||
        !PyBytes_Check(pool = PyTuple_GET_ITEM(exclusions, 1))) {
        PyErr_SetString(PyExc_TypeError, "exclusions must be (ints: bytes, pool: bytes)");
        return -1;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(ints), pool_size = PyBytes_GET_SIZE(pool);
    uint32_t header[5];
    if (size % 4 != 0 || size < (Py_ssize_t)sizeof header || pool_size > UINT32_MAX) goto bad;
    memcpy(header, PyBytes_AS_STRING(ints), sizeof header);
    uint64_t rules = header[0], alternatives = header[1], tests = header[2],
             comparisons = header[3], names = header[4];
    if ((uint64_t)size / 4 !=
        5 + 3 * rules + 2 * alternatives + 5 * tests + 3 * comparisons + 2 * names)
        goto bad;
    self->exclusion_ints = PyMem_Malloc((size_t)size);
    self->exclusion_pool = PyMem_Malloc((size_t)pool_size + 1);
    self->excluded_from = PyMem_Calloc(self->rules, sizeof(uint32_t));
    self->excluded_to = PyMem_Calloc(self->rules, sizeof(uint32_t));
    if (self->exclusion_ints == NULL || self->exclusion_pool == NULL ||
        self->excluded_from == NULL || self->excluded_to == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(self->exclusion_ints, PyBytes_AS_STRING(ints), (size_t)size);
    memcpy(self->exclusion_pool, PyBytes_AS_STRING(pool), (size_t)pool_size);
    const uint32_t *rule_part = self->exclusion_ints + 5;
    self->alternatives = rule_part + 3 * rules;
    self->tests = self->alternatives + 2 * alternatives;
    self->comparisons = self->tests + 5 * tests;
    self->names = self->comparisons + 3 * comparisons;
    for (uint64_t i = 0; i < rules; i++) {
        uint32_t rule = rule_part[3 * i], from = rule_part[3 * i + 1], to = rule_part[3 * i + 2];
        if (from > to || to > alternatives) goto bad;
        if (rule < self->rules) {
            self->excluded_from[rule] = from;
            self->excluded_to[rule] = to;
        }
    }
    for (uint64_t i = 0; i < alternatives; i++)
        if (self->alternatives[2 * i] > self->alternatives[2 * i + 1] ||
            self->alternatives[2 * i + 1] > tests)
            goto bad;
    for (uint64_t i = 0; i < tests; i++) {
        const uint32_t *test = self->tests + 5 * i;
        if (test[0] > 1 || test[1] >= test[2] || test[2] > names || test[3] >= test[4] ||
            test[4] > comparisons)
            goto bad;
    }
    for (uint64_t i = 0; i < comparisons; i++) {
        uint32_t *comparison = (uint32_t *)self->comparisons + 3 * i;
        if (comparison[0] >= TEST_KINDS ||
            (uint64_t)comparison[1] + comparison[2] > (uint64_t)pool_size)
            goto bad;
        for (uint32_t c = 0; c < comparison[2]; c++)
            if ((unsigned char)self->exclusion_pool[comparison[1] + c] >= 0x80)
                comparison[0] |= WIDE_LITERAL; /* marked once here, not at every compare */
    }
    for (uint64_t i = 0; i < names; i++)
        if ((uint64_t)self->names[2 * i] + self->names[2 * i + 1] > (uint64_t)pool_size) goto bad;
    return 0;
bad:
    PyErr_SetString(PyExc_ValueError, "exclusions are not laid out as exclusion.encode() does");
    return -1;
}

/* Where the JSON string whose body starts at text[i] ends (its closing quote), or size.
 * Sixteen bytes at a time to the next quote or backslash: command lines run long. */
static Py_ssize_t string_end(const char *text, Py_ssize_t i, Py_ssize_t size) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
#endif
    while (i < size) {
#ifdef __SSE2__
        if (i + 16 <= size) {
            __m128i block = _mm_loadu_si128((const __m128i *)(text + i));
            unsigned stops = (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash)));
            if (stops == 0) {
                i += 16;
                continue;
            }
            i += __builtin_ctz(stops);
        }
#endif
        if (text[i] == '"') return i;
        i += text[i] == '\\' ? 2 : 1;
    }
    return size;
}

/* Where the JSON value starting at text[i] ends: just past a string, object or array, at the
 * ',' or '}' after a scalar; -1 when the text ends first. Objects and arrays are stepped over
 * by depth, strings by string_end: enough to pass over System, not to validate it. */
static Py_ssize_t value_end(const char *text, Py_ssize_t i, Py_ssize_t size) {
    int depth = 0;
    while (i < size) {
        char c = text[i];
        if (c == '"') {
            i = string_end(text, i + 1, size);
            if (i >= size) return -1;
            i++;
            if (depth == 0) return i;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) return i;
            if (--depth == 0) return i + 1;
        } else if (c == ',' && depth == 0) {
            return i;
        }
        i++;
    }
    return -1;
}

/* Where EventData's object starts (its '{'), when the record has the parser's own shape:
 * {"Event":{ members "#attributes", "System" and one "EventData" object, names unescaped,
 * nothing else (no UserData, whose leaves flattening would lay over EventData's) } } and
 * nothing after. Otherwise -1: a record written another way (escaped or repeated names,
 * EventData elsewhere) might decode to other fields than the text seems to hold. */
static Py_ssize_t event_data_object(const char *text, Py_ssize_t size) {
    static const char start[] = "{\"Event\":{";
    if (size < (Py_ssize_t)sizeof start || memcmp(text, start, sizeof start - 1) != 0) return -1;
    Py_ssize_t i = sizeof start - 1, found = -1;
    for (;;) {
        if (i >= size || text[i] != '"') return -1;
        Py_ssize_t name = ++i;
        while (i < size && text[i] != '"' && text[i] != '\\') i++;
        if (i + 1 >= size || text[i] != '"' || text[i + 1] != ':') return -1; /* escaped */
        Py_ssize_t name_size = i - name;
        i += 2;
        if (name_size == 9 && memcmp(text + name, "EventData", 9) == 0) {
            if (found >= 0 || i >= size || text[i] != '{') return -1;
            found = i;
        } else if (!(name_size == 6 && memcmp(text + name, "System", 6) == 0) &&
                   !(name_size == 11 && memcmp(text + name, "#attributes", 11) == 0)) {
            return -1;
        }
        i = value_end(text, i, size);
        if (i < 0 || i >= size) return -1;
        if (text[i] == '}') break;
        if (text[i] != ',') return -1;
        i++;
    }
    /* The Event object closes the record. */
    if (i + 2 != size || text[i + 1] != '}') return -1;
    return found;
}

/* The members of the record's EventData, when the record has the parser's shape
 * (event_data_object) and EventData is one flat object of scalars: then flattening takes
 * each member as it is, the last of a repeated name winning. Otherwise -1, and nothing is
 * excluded. */
static int walk_event_data(const char *text, Py_ssize_t size, Member *members) {
    Py_ssize_t i = event_data_object(text, size);
    if (i < 0) return -1;
    i++;
    int count = 0;
    if (i < size && text[i] == '}') return 0;
    for (;;) {
        if (count == MAX_MEMBERS || i >= size || text[i] != '"') return -1;
        Member *member = &members[count++];
        member->lowered = 0;
        Py_ssize_t name = ++i;
        while (i < size && text[i] != '"' && text[i] != '\\') i++;
        if (i + 1 >= size || text[i] != '"' || text[i + 1] != ':') return -1; /* escaped */
        member->name = text + name;
        member->name_size = (uint32_t)(i - name);
        i += 2;
        if (i >= size) return -1;
        if (text[i] == '"') {
            Py_ssize_t value = ++i;
            i = string_end(text, i, size);
            if (i >= size) return -1;
            member->value = text + value;
            member->value_size = (uint32_t)(i - value);
            member->string = 1;
            i++;
        } else if (text[i] == '{' || text[i] == '[') {
            return -1;
        } else {
            while (i < size && text[i] != ',' && text[i] != '}') i++; /* a number, null, ... */
            member->value = NULL;
            member->value_size = 0;
            member->string = 0;
        }
        if (i >= size) return -1;
        if (text[i] == '}') return count;
        if (text[i] != ',') return -1;
        i++;
    }
}

/* The member's string unescaped and ASCII lower-cased (at self->values + its lowered_at),
 * read once per record; 0 when it is not a string or holds a \u escape (then no test on it
 * is taken to hold, negated or not). */
static int lowered_value(Scanner *self, Member *member) {
    if (member->lowered) return member->lowered > 0;
    member->lowered = -1;
    if (!member->string) return 0;
    if (self->values_capacity - self->values_size < member->value_size) {
        size_t capacity = 2 * (self->values_size + member->value_size) + 256;
        char *grown = PyMem_Realloc(self->values, capacity);
        if (grown == NULL) return 0; /* no memory: simply no exclusion */
        self->values = grown;
        self->values_capacity = capacity;
    }
    const char *in = member->value, *end = in + member->value_size;
    char *start = self->values + self->values_size, *out = start;
    member->wide = 0;
    while (in < end) {
        char c = *in++;
        member->wide |= (unsigned char)c >= 0x80;
        if (c == '\\') {
            if (in >= end) return 0;
            switch (*in++) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: return 0;
            }
        } else if (c >= 'A' && c <= 'Z') {
            c = (char)(c + ('a' - 'A'));
        }
        *out++ = c;
    }
    member->lowered = 1;
    member->lowered_at = self->values_size;
    member->lowered_size = (size_t)(out - start);
    self->values_size += member->lowered_size;
    return 1;
}

/* Does the lowered value pass the comparison? A literal with non-ASCII characters (only in
 * negated tests) is compared as Python would after lower-casing every character, which only
 * an ASCII value settles: there it never passes; in any other value it may (``wide``). */
static int compares(const uint32_t *comparison, const char *pool, const char *value,
                    size_t size, int wide) {
    const char *literal = pool + comparison[1];
    size_t literal_size = comparison[2];
    if (comparison[0] & WIDE_LITERAL) return wide;
    if (literal_size > size) return 0;
    if (literal_size == 0) return comparison[0] != TEST_EXACT || size == 0; /* value may be NULL */
    switch (comparison[0]) {
    case TEST_EXACT:
        return literal_size == size && memcmp(value, literal, size) == 0;
    case TEST_PREFIX:
        return memcmp(value, literal, literal_size) == 0;
    case TEST_SUFFIX:
        return memcmp(value + size - literal_size, literal, literal_size) == 0;
    default:
        return memmem(value, size, literal, literal_size) != NULL;
    }
}

/* Does the test hold on this record's members? Its field's value is that of the first of
 * its names the record has (logsource.with_aliases). A test holds when the value is a string
 * passing one of its comparisons; a negated test when the field is absent, or a string
 * passing none. */
static int test_holds(Scanner *self, const uint32_t *test) {
    Member *found = NULL;
    for (uint32_t n = test[1]; n < test[2] && found == NULL; n++) {
        const char *name = self->exclusion_pool + self->names[2 * n];
        uint32_t name_size = self->names[2 * n + 1];
        for (int m = 0; m < self->member_count; m++) {
            Member *member = &self->members[m];
            if (member->name_size == name_size && memcmp(member->name, name, name_size) == 0)
                found = member; /* the last one wins, as in decoding */
        }
    }
    int negated = test[0] != 0;
    if (found == NULL) return negated; /* absent: no string test passes */
    if (!lowered_value(self, found)) return 0;
    const char *value = self->values + found->lowered_at;
    /* A positive test never takes a comparison that only may pass (wide) as passing. */
    int wide = negated && found->wide;
    for (uint32_t c = test[3]; c < test[4]; c++)
        if (compares(self->comparisons + 3 * c, self->exclusion_pool, value, found->lowered_size,
                     wide))
            return !negated;
    return negated;
}

/* Is the rule ruled out for this record: does one of its exclusion's alternatives hold? */
static int excluded(Scanner *self, uint32_t rule, const char *text, Py_ssize_t size) {
    if (self->excluded_from == NULL || rule >= self->rules) return 0;
    for (uint32_t a = self->excluded_from[rule]; a < self->excluded_to[rule]; a++) {
        uint32_t first = self->alternatives[2 * a], end = self->alternatives[2 * a + 1];
        if (first < end && self->walked != self->generation) {
            self->walked = self->generation;
            self->values_size = 0;
            self->member_count = walk_event_data(text, size, self->members);
        }
        int holds = 1;
        for (uint32_t t = first; t < end && holds; t++)
            holds = self->member_count >= 0 && test_holds(self, self->tests + 5 * t);
        if (holds) return 1;
    }
    return 0;
}

static void Scanner_release(Scanner *self) {
    if (self->scratch != NULL) hs_free_scratch(self->scratch);
    self->scratch = NULL;
    Py_CLEAR(self->database);
    Py_CLEAR(self->unfit);
    PyMem_Free(self->literal_start);
    PyMem_Free(self->entries);
    PyMem_Free(self->checked);
    PyMem_Free(self->clauses);
    PyMem_Free(self->ids);
    PyMem_Free(self->literal_stamp);
    PyMem_Free(self->found);
    PyMem_Free(self->rule_stamp);
    PyMem_Free(self->hits);
    PyMem_Free(self->exclusion_ints);
    PyMem_Free(self->exclusion_pool);
    PyMem_Free(self->excluded_from);
    PyMem_Free(self->excluded_to);
    PyMem_Free(self->values);
    PyMem_Free(self->always);
    self->always = NULL;
    self->always_count = 0;
    self->exclusion_ints = self->excluded_from = self->excluded_to = NULL;
    self->exclusion_pool = self->values = NULL;
    self->values_size = self->values_capacity = 0;
    self->literal_start = self->found = self->ids = self->literal_stamp = self->rule_stamp = NULL;
    self->entries = self->checked = NULL;
    self->clauses = NULL;
    self->hits = NULL;
}

static void Scanner_dealloc(Scanner *self) {
    Scanner_release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Scanner_init(Scanner *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"database", "by_literal", "checked", "unfit", "count",
                               "exclusions", "always", NULL};
    PyObject *database, *by_literal, *checked, *unfit, *exclusions = Py_None, *always = NULL;
    int count = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO!|pOO!", keywords, &database,
                                     &by_literal, &checked, &PyTuple_Type, &unfit, &count,
                                     &exclusions, &PyTuple_Type, &always))
        return -1;
    Scanner_release(self);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(unfit); i++) {
        PyObject *sequence = PyTuple_GET_ITEM(unfit, i);
        /* Non-ASCII characters only: has_unfit looks only where a record is not ASCII. */
        if (!PyBytes_Check(sequence) || PyBytes_GET_SIZE(sequence) == 0 ||
            (unsigned char)PyBytes_AS_STRING(sequence)[0] < 0x80) {
            PyErr_SetString(PyExc_TypeError,
                            "unfit must be a tuple of UTF-8 encoded non-ASCII characters");
            return -1;
        }
    }
    Py_INCREF(unfit);
    self->unfit = unfit;
    /* Tuples: reading the plan runs no code that could change them under the loop. */
    PyObject *by = PySequence_Tuple(by_literal);
    if (by == NULL) return -1;
    PyObject *always_checked = PySequence_Tuple(checked);
    if (always_checked == NULL) {
        Py_DECREF(by);
        return -1;
    }
    int result = -1;
    U32s clauses = {0}, ids = {0}, entries = {0}, checks = {0};
    Py_ssize_t literals = PySequence_Fast_GET_SIZE(by);
    if (database == Py_None) {
        if (literals != 0) {
            PyErr_SetString(PyExc_ValueError, "literals without a database");
            goto done;
        }
    } else {
        if (!PyObject_TypeCheck(database, &DatabaseType) ||
            ((Database *)database)->db == NULL) {
            PyErr_SetString(PyExc_TypeError, "database must be a compiled Database or None");
            goto done;
        }
        if ((Py_ssize_t)((Database *)database)->count != literals) {
            PyErr_SetString(PyExc_ValueError, "one by_literal entry per database expression");
            goto done;
        }
        if (hs_alloc_scratch(((Database *)database)->db, &self->scratch) != HS_SUCCESS) {
            PyErr_SetString(PyExc_MemoryError, "Hyperscan could not allocate scratch space");
            goto done;
        }
        Py_INCREF(database);
        self->database = (Database *)database;
    }
    self->literals = (uint32_t)literals;
    self->literal_start = PyMem_Calloc((size_t)literals + 1, sizeof(uint32_t));
    self->literal_stamp = PyMem_Calloc((size_t)literals + 1, sizeof(uint32_t));
    self->found = PyMem_Calloc((size_t)literals + 1, sizeof(uint32_t));
    if (self->literal_start == NULL || self->literal_stamp == NULL || self->found == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint32_t max_rule = 0;
    for (Py_ssize_t literal = 0; literal < literals; literal++) {
        self->literal_start[literal] = (uint32_t)(entries.length / 3);
        PyObject *list = PySequence_Fast(PySequence_Fast_GET_ITEM(by, literal),
                                         "by_literal items must be sequences");
        if (list == NULL) goto done;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(list); i++) {
            uint32_t rule, start, end;
            if (read_entry(PySequence_Fast_GET_ITEM(list, i), (uint32_t)literals, &clauses, &ids,
                           &rule, &start, &end) < 0 ||
                push_u32(&entries, rule) < 0 || push_u32(&entries, start) < 0 ||
                push_u32(&entries, end) < 0) {
                Py_DECREF(list);
                goto done;
            }
            if (rule > max_rule) max_rule = rule;
        }
        Py_DECREF(list);
    }
    self->literal_start[literals] = (uint32_t)(entries.length / 3);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(always_checked); i++) {
        uint32_t rule, start, end;
        if (read_entry(PySequence_Fast_GET_ITEM(always_checked, i), (uint32_t)literals, &clauses,
                       &ids, &rule, &start, &end) < 0 ||
            push_u32(&checks, rule) < 0 || push_u32(&checks, start) < 0 ||
            push_u32(&checks, end) < 0)
            goto done;
        if (rule > max_rule) max_rule = rule;
    }
    if (always != NULL && PyTuple_GET_SIZE(always) > 0) {
        self->always = PyMem_Calloc((size_t)PyTuple_GET_SIZE(always), sizeof(uint32_t));
        if (self->always == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(always); i++) {
            uint32_t rule;
            if (read_u32(PyTuple_GET_ITEM(always, i), UINT32_MAX, "rule", &rule) < 0) goto done;
            self->always[self->always_count++] = rule;
            if (rule > max_rule) max_rule = rule;
        }
    }
    /* Entries are three u32s and clauses four, laid out as the structs are. */
    self->entries = (Entry *)entries.items;
    entries.items = NULL;
    self->checked = (Entry *)checks.items;
    self->checked_count = (uint32_t)(checks.length / 3);
    checks.items = NULL;
    self->clauses = (Clause *)clauses.items;
    clauses.items = NULL;
    self->ids = ids.items;
    ids.items = NULL;
    self->rules = max_rule + 1;
    self->rule_stamp = PyMem_Calloc((size_t)self->rules, sizeof(uint32_t));
    if (self->rule_stamp == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (count) {
        self->hits = PyMem_Calloc((size_t)literals + 1, sizeof(uint64_t));
        if (self->hits == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    if (exclusions != Py_None && read_exclusions(self, exclusions) < 0) goto done;
    self->generation = 0;
    self->walked = 0;
    self->scans = 0;
    result = 0;
done:
    PyMem_Free(clauses.items);
    PyMem_Free(ids.items);
    PyMem_Free(entries.items);
    PyMem_Free(checks.items);
    Py_DECREF(by);
    Py_DECREF(always_checked);
    if (result < 0) Scanner_release(self);
    return result;
}

/* Whether the quote at text[i] starts what GUARD_REGEX matches, given whether a space came
 * since the previous quote. */
static int unfit_at(const char *text, Py_ssize_t size, Py_ssize_t i, int space) {
    if (i + 1 < size && text[i + 1] == ':') {
        if (space) return 1; /*  [^"]*": */
        if (i + 2 < size) {
            Py_ssize_t j = i + 2;
            if (text[j] == '[') return 1; /* ":\[ */
            if (text[j] == '-') j++;
            Py_ssize_t digits = j;
            while (j < size && text[j] >= '0' && text[j] <= '9') j++;
            if (j > digits && j < size && (text[j] == '.' || text[j] == 'e' || text[j] == 'E'))
                return 1; /* ":-?[0-9]+[.eE] */
        }
    }
    return i + 6 < size && memcmp(text + i, "\"#text\"", 7) == 0;
}

/* True when the record matches GUARD_REGEX: a name with a space, a "#text" name, a list, or a
 * fractional number. One pass, deciding at each quote; sixteen bytes at a time where SSE2 is
 * there (every x86-64), since this runs on every record. */
static int unfit_json(const char *text, Py_ssize_t size) {
    int space = 0; /* a space since the last quote */
    Py_ssize_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), blank = _mm_set1_epi8(' ');
    for (; i + 16 <= size; i += 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(text + i));
        unsigned quotes = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(block, quote));
        unsigned spaces = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(block, blank));
        while (quotes) {
            unsigned at = (unsigned)__builtin_ctz(quotes);
            unsigned before = (1u << at) - 1;
            if (spaces & before) space = 1;
            spaces &= ~before;
            if (unfit_at(text, size, i + at, space)) return 1;
            space = 0;
            quotes &= quotes - 1;
        }
        if (spaces) space = 1;
    }
#endif
    for (; i < size; i++) {
        if (text[i] == ' ') {
            space = 1;
        } else if (text[i] == '"') {
            if (unfit_at(text, size, i, space)) return 1;
            space = 0;
        }
    }
    return 0;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *context) {
    Scanner *self = (Scanner *)context;
    if (id < self->literals && self->literal_stamp[id] != self->generation) {
        self->literal_stamp[id] = self->generation;
        self->found[self->found_count++] = id;
    }
    return 0;
}

/* Every clause has a positive literal found or a negative literal not found. */
static int holds(const Scanner *self, uint32_t start, uint32_t end) {
    const uint32_t generation = self->generation;
    for (uint32_t c = start; c < end; c++) {
        const Clause *clause = &self->clauses[c];
        int satisfied = 0;
        for (uint32_t i = clause->positive_start; i < clause->positive_end; i++) {
            if (self->literal_stamp[self->ids[i]] == generation) {
                satisfied = 1;
                break;
            }
        }
        if (satisfied) continue;
        for (uint32_t i = clause->negative_start; i < clause->negative_end; i++) {
            if (self->literal_stamp[self->ids[i]] != generation) {
                satisfied = 1;
                break;
            }
        }
        if (!satisfied) return 0;
    }
    return 1;
}

static int add_rule(Scanner *self, PyObject *result, uint32_t rule, const char *text,
                    Py_ssize_t size) {
    if (self->rule_stamp[rule] == self->generation) return 0;
    self->rule_stamp[rule] = self->generation;
    if (excluded(self, rule, text, size)) return 0;
    PyObject *number = PyLong_FromUnsignedLong(rule);
    if (number == NULL) return -1;
    int status = PyList_Append(result, number);
    Py_DECREF(number);
    return status;
}

/* Does the text hold one of the unfit sequences (UTF-8 of non-ASCII characters)? One pass
 * that stops only at non-ASCII bytes: a memmem per sequence cost a third of a verdict. */
static int has_unfit(PyObject *unfit, const char *text, Py_ssize_t size) {
    const Py_ssize_t count = PyTuple_GET_SIZE(unfit);
    Py_ssize_t i = 0;
    while (i < size) {
#ifdef __SSE2__
        while (i + 16 <= size) {
            unsigned high = (unsigned)_mm_movemask_epi8(
                _mm_loadu_si128((const __m128i *)(text + i)));
            if (high) {
                i += __builtin_ctz(high);
                break;
            }
            i += 16;
        }
        if (i >= size) break;
#endif
        if ((unsigned char)text[i] >= 0x80) {
            for (Py_ssize_t k = 0; k < count; k++) {
                PyObject *sequence = PyTuple_GET_ITEM(unfit, k);
                Py_ssize_t length = PyBytes_GET_SIZE(sequence);
                if (length > 0 && length <= size - i &&
                    memcmp(text + i, PyBytes_AS_STRING(sequence), (size_t)length) == 0)
                    return 1;
            }
        }
        i++;
    }
    return 0;
}

static PyObject *Scanner_scan(Scanner *self, PyObject *raw) {
    if (!PyUnicode_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "scan() takes the record as str");
        return NULL;
    }
    if (self->rule_stamp == NULL) {
        PyErr_SetString(PyExc_ValueError, "scanner not initialised");
        return NULL;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(raw, &size); /* no copy for ASCII */
    if (text == NULL) {                                    /* lone surrogates */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (!PyUnicode_IS_ASCII(raw) && has_unfit(self->unfit, text, size)) Py_RETURN_NONE;
    if (size > UINT32_MAX || unfit_json(text, size)) Py_RETURN_NONE;
    /* Allocated before the scan: allocating a list may run the collector, hence other
     * threads, which must not find the stamps half written. From here on nothing does. */
    PyObject *result = PyList_New(0);
    if (result == NULL) return NULL;
    if (++self->generation == 0) { /* wrapped: forget every stamp */
        memset(self->literal_stamp, 0, ((size_t)self->literals + 1) * sizeof(uint32_t));
        memset(self->rule_stamp, 0, (size_t)self->rules * sizeof(uint32_t));
        self->generation = 1;
        self->walked = 0;
    }
    self->found_count = 0;
    if (self->database != NULL) {
        hs_error_t status = hs_scan(self->database->db, text, (unsigned int)size, 0,
                                    self->scratch, on_match, self);
        if (status != HS_SUCCESS) {
            Py_DECREF(result);
            PyErr_Format(PyExc_RuntimeError, "Hyperscan scan failed (%d)", (int)status);
            return NULL;
        }
    }
    if (self->hits != NULL) {
        for (uint32_t i = 0; i < self->found_count; i++) self->hits[self->found[i]]++;
        self->scans++;
    }
    for (uint32_t i = 0; i < self->checked_count; i++) {
        const Entry *entry = &self->checked[i];
        if (holds(self, entry->clause_start, entry->clause_end) &&
            add_rule(self, result, entry->rule, text, size) < 0)
            goto error;
    }
    for (uint32_t f = 0; f < self->found_count; f++) {
        uint32_t literal = self->found[f];
        for (uint32_t e = self->literal_start[literal]; e < self->literal_start[literal + 1];
             e++) {
            const Entry *entry = &self->entries[e];
            if (self->rule_stamp[entry->rule] == self->generation) continue;
            if (holds(self, entry->clause_start, entry->clause_end) &&
                add_rule(self, result, entry->rule, text, size) < 0)
                goto error;
        }
    }
    for (uint32_t i = 0; i < self->always_count; i++)
        if (add_rule(self, result, self->always[i], text, size) < 0) goto error;
    return result;
error:
    Py_DECREF(result);
    return NULL;
}

static PyObject *Scanner_get_hits(Scanner *self, void *closure) {
    if (self->hits == NULL) Py_RETURN_NONE;
    PyObject *result = PyList_New((Py_ssize_t)self->literals);
    if (result == NULL) return NULL;
    for (uint32_t i = 0; i < self->literals; i++) {
        PyObject *number = PyLong_FromUnsignedLongLong(self->hits[i]);
        if (number == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyList_SET_ITEM(result, i, number);
    }
    return result;
}

static PyObject *Scanner_get_scans(Scanner *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->scans);
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_O,
     "Candidate rules of a raw record (list, each once), or None to judge it in full."},
    {NULL},
};

static PyGetSetDef Scanner_getset[] = {
    {"hits", (getter)Scanner_get_hits, NULL, "Records each literal was found in (counting).",
     NULL},
    {"scans", (getter)Scanner_get_scans, NULL, "Records scanned while counting.", NULL},
    {NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stockade.detection._rawscan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A bucket's rules as one scan of raw records.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
    .tp_getset = Scanner_getset,
};

/* ---------------------------------------------------------------- module */

static PyObject *module_unfit(PyObject *module, PyObject *raw) {
    if (!PyUnicode_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "unfit() takes str");
        return NULL;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(raw, &size);
    if (text == NULL) return NULL;
    return PyBool_FromLong(unfit_json(text, size));
}

/* (EventID, Channel) of a raw record, as scanplan.raw_bucket finds them; None when they are
 * not plain (an EventID with attributes, a channel with an escape). */
/* Finds (EventID, Channel) in a raw record as scanplan.raw_bucket does: 1 when found (the
 * channel as a span of the text), 0 when they are not plain (an EventID with attributes, a
 * channel with an escape). */
static int find_bucket(const char *text, Py_ssize_t size, long long *event_id,
                       const char **channel, Py_ssize_t *channel_size) {
    static const char event_id_name[] = "\"EventID\":";
    static const char channel_name[] = "\"Channel\":\"";
    const char *end = text + size;
    const char *at = memmem(text, (size_t)size, event_id_name, sizeof event_id_name - 1);
    if (at == NULL) return 0;
    const char *p = at + sizeof event_id_name - 1;
    int quoted = p < end && *p == '"';
    p += quoted;
    long long number = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (++digits > 18) return 0;
        number = number * 10 + (*p++ - '0');
    }
    if (digits == 0) return 0;
    if (quoted && (p >= end || *p++ != '"')) return 0;
    if (p >= end || *p != ',') return 0;
    const char *name = memmem(at, (size_t)(end - at), channel_name, sizeof channel_name - 1);
    if (name == NULL) return 0;
    name += sizeof channel_name - 1;
    const char *close = memchr(name, '"', (size_t)(end - name));
    if (close == NULL || memchr(name, '\\', (size_t)(close - name)) != NULL) return 0;
    *event_id = number;
    *channel = name;
    *channel_size = close - name;
    return 1;
}

/* (EventID, Channel) of a raw record, as scanplan.raw_bucket finds them; None when they are
 * not plain. */
static PyObject *module_bucket(PyObject *module, PyObject *raw) {
    if (!PyUnicode_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "bucket() takes str");
        return NULL;
    }
    Py_ssize_t size, channel_size;
    const char *text = PyUnicode_AsUTF8AndSize(raw, &size), *channel;
    long long event_id;
    if (text == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (!find_bucket(text, size, &event_id, &channel, &channel_size)) Py_RETURN_NONE;
    PyObject *name = PyUnicode_DecodeUTF8(channel, channel_size, "strict");
    if (name == NULL) return NULL;
    PyObject *number = PyLong_FromLongLong(event_id);
    if (number == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, number, name);
    Py_DECREF(number);
    Py_DECREF(name);
    return result;
}

/* ---------------------------------------------------------------- Judge */

/* The engine's raw verdict for buckets whose scan is settled (tuned), in one call: bucket,
 * scan, and the bucket's always-candidates merged in. Other buckets answer NotImplemented and
 * the engine takes its Python path, which registers them here once settled. */

typedef struct {
    long long event_id;
    char *channel; /* NULL: free slot */
    Py_ssize_t channel_size;
    Scanner *scanner; /* NULL: records of this bucket are not judged raw */
    PyObject *always; /* sorted tuple of rule indexes */
} Slot;

typedef struct {
    PyObject_HEAD
    Slot *slots;
    size_t capacity; /* a power of two */
    size_t count;
} Judge;

static size_t slot_hash(long long event_id, const char *channel, Py_ssize_t size) {
    uint64_t hash = 1469598103934665603ull ^ (uint64_t)event_id;
    for (Py_ssize_t i = 0; i < size; i++) hash = (hash ^ (unsigned char)channel[i]) * 1099511628211ull;
    return (size_t)hash;
}

static Slot *find_slot(Slot *slots, size_t capacity, long long event_id, const char *channel,
                       Py_ssize_t size) {
    size_t index = slot_hash(event_id, channel, size) & (capacity - 1);
    for (;;) {
        Slot *slot = &slots[index];
        if (slot->channel == NULL ||
            (slot->event_id == event_id && slot->channel_size == size &&
             memcmp(slot->channel, channel, (size_t)size) == 0))
            return slot;
        index = (index + 1) & (capacity - 1);
    }
}

static void Judge_dealloc(Judge *self) {
    for (size_t i = 0; i < self->capacity; i++) {
        PyMem_Free(self->slots[i].channel);
        Py_XDECREF(self->slots[i].scanner);
        Py_XDECREF(self->slots[i].always);
    }
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Judge_init(Judge *self, PyObject *args, PyObject *kwargs) {
    if (!PyArg_ParseTuple(args, ":Judge")) return -1;
    if (self->slots != NULL) return 0;
    self->capacity = 64;
    self->slots = PyMem_Calloc(self->capacity, sizeof(Slot));
    return self->slots == NULL ? (PyErr_NoMemory(), -1) : 0;
}

static int grow(Judge *self) {
    size_t capacity = self->capacity * 2;
    Slot *slots = PyMem_Calloc(capacity, sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < self->capacity; i++) {
        Slot *old = &self->slots[i];
        if (old->channel != NULL)
            *find_slot(slots, capacity, old->event_id, old->channel, old->channel_size) = *old;
    }
    PyMem_Free(self->slots);
    self->slots = slots;
    self->capacity = capacity;
    return 0;
}

static int judge_ready(Judge *self) {
    if (self->slots != NULL) return 1;
    PyErr_SetString(PyExc_RuntimeError, "Judge not initialised");
    return 0;
}

static PyObject *Judge_register(Judge *self, PyObject *args) {
    long long event_id;
    const char *channel;
    Py_ssize_t size;
    PyObject *scanner, *always;
    if (!PyArg_ParseTuple(args, "Ls#OO!:register", &event_id, &channel, &size, &scanner,
                          &PyTuple_Type, &always))
        return NULL;
    if (!judge_ready(self)) return NULL;
    if (scanner != Py_None && !PyObject_TypeCheck(scanner, &ScannerType)) {
        PyErr_SetString(PyExc_TypeError, "scanner must be a Scanner or None");
        return NULL;
    }
    long last = -1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(always); i++) {
        if (!PyLong_CheckExact(PyTuple_GET_ITEM(always, i))) {
            PyErr_SetString(PyExc_TypeError, "always must be a tuple of ints");
            return NULL;
        }
        long rule = PyLong_AsLong(PyTuple_GET_ITEM(always, i));
        if (rule == -1 && PyErr_Occurred()) return NULL;
        if (rule <= last || rule > (long)UINT32_MAX) { /* the merge relies on it */
            PyErr_SetString(PyExc_ValueError, "always must be rule indexes in rising order");
            return NULL;
        }
        last = rule;
    }
    if ((self->count + 1) * 2 > self->capacity && grow(self) < 0) return NULL;
    Slot *slot = find_slot(self->slots, self->capacity, event_id, channel, size);
    if (slot->channel == NULL) {
        slot->channel = PyMem_Malloc((size_t)size + 1);
        if (slot->channel == NULL) return PyErr_NoMemory();
        memcpy(slot->channel, channel, (size_t)size);
        slot->channel_size = size;
        slot->event_id = event_id;
        self->count++;
    }
    Py_XSETREF(slot->scanner, scanner == Py_None ? NULL : (Scanner *)Py_NewRef(scanner));
    Py_XSETREF(slot->always, Py_NewRef(always));
    Py_RETURN_NONE;
}

static PyObject *merged_tuple(PyObject *found, PyObject *always);

static PyObject *Judge_verdict(Judge *self, PyObject *raw) {
    if (!PyUnicode_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "verdict() takes the record as str");
        return NULL;
    }
    Py_ssize_t size, channel_size;
    const char *text = PyUnicode_AsUTF8AndSize(raw, &size), *channel;
    long long event_id;
    if (!judge_ready(self)) return NULL;
    if (text == NULL) { /* lone surrogates: no bucket */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (!find_bucket(text, size, &event_id, &channel, &channel_size)) Py_RETURN_NONE;
    Slot *slot = find_slot(self->slots, self->capacity, event_id, channel, channel_size);
    if (slot->channel == NULL) Py_RETURN_NOTIMPLEMENTED;
    if (slot->scanner == NULL) Py_RETURN_NONE;
    /* Held, not borrowed from the slot: allocating below may run other threads, whose
     * registering may move the slots. */
    Scanner *scanner = (Scanner *)Py_NewRef(slot->scanner);
    PyObject *always = Py_NewRef(slot->always);
    PyObject *found = Scanner_scan(scanner, raw);
    Py_DECREF(scanner);
    PyObject *result = merged_tuple(found, always);
    Py_DECREF(always);
    return result;
}

/* The sorted union of ``always`` (a sorted tuple) and ``found`` (a list, each once, any
 * order; consumed); None and errors pass through. */
static PyObject *merged_tuple(PyObject *found, PyObject *always) {
    if (found == NULL || found == Py_None) return found;
    Py_ssize_t extra = PyList_GET_SIZE(found), base = PyTuple_GET_SIZE(always);
    if (extra == 0) {
        Py_DECREF(found);
        return Py_NewRef(always);
    }
    /* Sorted union of the always-candidates (sorted) and the scan's (each once, any order). */
    if (PyList_Sort(found) < 0) {
        Py_DECREF(found);
        return NULL;
    }
    PyObject *merged = PyList_New(0);
    Py_ssize_t i = 0, j = 0;
    while (merged != NULL && (i < base || j < extra)) {
        PyObject *next;
        if (j >= extra) {
            next = PyTuple_GET_ITEM(always, i++);
        } else if (i >= base) {
            next = PyList_GET_ITEM(found, j++);
        } else {
            long left = PyLong_AsLong(PyTuple_GET_ITEM(always, i));
            long right = PyLong_AsLong(PyList_GET_ITEM(found, j));
            if (left <= right) {
                next = PyTuple_GET_ITEM(always, i++);
                j += left == right;
            } else {
                next = PyList_GET_ITEM(found, j++);
            }
        }
        if (PyList_Append(merged, next) < 0) Py_CLEAR(merged);
    }
    Py_DECREF(found);
    if (merged == NULL) return NULL;
    PyObject *result = PyList_AsTuple(merged);
    Py_DECREF(merged);
    return result;
}

static PyMethodDef Judge_methods[] = {
    {"verdict", (PyCFunction)Judge_verdict, METH_O,
     "The raw verdict of a record (see DetectionEngine.raw_verdict); NotImplemented for a "
     "bucket not registered."},
    {"register", (PyCFunction)Judge_register, METH_VARARGS,
     "register(event_id, channel, scanner or None, always): a settled bucket."},
    {NULL},
};

static PyTypeObject JudgeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stockade.detection._rawscan.Judge",
    .tp_basicsize = sizeof(Judge),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Raw verdicts of settled buckets in one call.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Judge_init,
    .tp_dealloc = (destructor)Judge_dealloc,
    .tp_methods = Judge_methods,
};

static PyMethodDef module_methods[] = {
    {"bucket", (PyCFunction)module_bucket, METH_O, "(EventID, Channel) of a raw record, or None."},
    {"unfit", (PyCFunction)module_unfit, METH_O, "Whether GUARD matches the text."},
    {NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stockade.detection._rawscan",
    .m_doc = "Native raw-record judging (see prefilter.RuleScanner).",
    .m_size = -1,
    .m_methods = module_methods,
};

static int add_bytes(PyObject *module, const char *name, const char *value) {
    PyObject *bytes = PyBytes_FromString(value);
    if (bytes == NULL) return -1;
    int status = PyModule_AddObjectRef(module, name, bytes);
    Py_DECREF(bytes);
    return status;
}

PyMODINIT_FUNC PyInit__rawscan(void) {
    if (PyType_Ready(&DatabaseType) < 0 || PyType_Ready(&ScannerType) < 0 ||
        PyType_Ready(&JudgeType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL) return NULL;
    if (PyModule_AddObjectRef(module, "Database", (PyObject *)&DatabaseType) < 0 ||
        PyModule_AddObjectRef(module, "Scanner", (PyObject *)&ScannerType) < 0 ||
        PyModule_AddObjectRef(module, "Judge", (PyObject *)&JudgeType) < 0 ||
        add_bytes(module, "GUARD", GUARD_REGEX) < 0 ||
        PyModule_AddStringConstant(module, "HYPERSCAN_VERSION", hs_version()) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
