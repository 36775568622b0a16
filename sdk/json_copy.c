#include "json_copy.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json_scan.h"
#include "utf8.h"

/* A longer real goes to the tree, whose strtod reads it the same; a copy on the stack covers
 * every real a program writes. */
#define REAL_MAX_LENGTH 64
/* An object with more keys is checked for repeats by hash, not pair by pair. */
#define PAIRWISE_KEYS 8

/* A key as copied: where its text (quotes included) sits in the buffer, and where its member
 * ends (before the comma or the brace). */
typedef struct key_span {
	size_t at, length, end;
	uint64_t hash;
	const char *text; /* at's place in the buffer, while an object is sorted */
} key_span;

typedef struct copier {
	const unsigned char *p, *end;
	portico_json_buffer *out;
	int sort;                       /* keys in strcmp order, as PORTICO_JSON_SORT_KEYS writes them */
	const char *const *absent_keys; /* keys the outermost object must not hold (NULL-ended), or NULL */
	key_span *keys;                 /* the keys of the objects open now, outermost first; freed by copy_value_at */
	size_t key_count, key_capacity;
	portico_json_buffer moved; /* an object's members while they are sorted; freed by copy_value_at */
	size_t moves_left;         /* bytes sorting may still move */
} copier;

static inline void add(copier *c, const void *text, size_t length)
{
	portico_json_buffer *out = c->out;
	if (out->length + length >= out->capacity) {
		portico_json_buffer_append(out, text, length);
		return;
	}
	memcpy(out->data + out->length, text, length);
	out->length += length; /* the NUL after it (there is room) is written once, by copy_value_at */
}

static inline void add_char(copier *c, char ch)
{
	add(c, &ch, 1);
}

int portico_json_utf8_valid(const char *text, size_t length)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + length;
	while (p < end) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t n = portico_utf8_sequence(p, end);
		if (!n)
			return 0;
		p += n;
	}
	return 1;
}

static inline void skip_space(copier *c)
{
	/* Most values have no blanks before them: one test for any byte past ' '. */
	const unsigned char *p = c->p;
	while (p < c->end && *p <= ' ' && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	c->p = p;
}

/* Adds code point value (1 and up) as portico_json_append_string writes it. */
static void add_code_point(copier *c, uint32_t value)
{
	unsigned char text[6];
	if (value < 0x20 || value == '"' || value == '\\') {
		static const char hex[] = "0123456789abcdef";
		const char *named = value == '"'    ? "\\\""
		                    : value == '\\' ? "\\\\"
		                    : value == '\n' ? "\\n"
		                    : value == '\r' ? "\\r"
		                    : value == '\t' ? "\\t"
		                                    : NULL;
		if (named) {
			add(c, named, 2);
			return;
		}
		memcpy(text, "\\u00", 4);
		text[4] = (unsigned char)hex[value >> 4];
		text[5] = (unsigned char)hex[value & 0xf];
		add(c, text, 6);
		return;
	}
	add(c, text, portico_utf8_put(text, value));
}

/* Copies the string at c->p (its opening quote), with the escapes written again as
 * portico_json_append_string writes them. */
static int copy_string(copier *c)
{
	const unsigned char *p = c->p + 1, *end = c->end;
	/* Most strings are ASCII without escapes: copied with their quotes in one go. */
	size_t plain = portico_json_plain_run((const char *)p, (size_t)(end - p), 1);
	if (plain < (size_t)(end - p) && p[plain] == '"') {
		add(c, c->p, plain + 2);
		c->p = p + plain + 1;
		return 0;
	}
	add(c, "\"", 1);
	for (;;) {
		const unsigned char *run = p;
		while (p < end) {
			p += portico_json_plain_run((const char *)p, (size_t)(end - p), 1);
			size_t n = p < end && *p >= 0x80 ? portico_utf8_sequence(p, end) : 0;
			if (!n)
				break;
			p += n;
		}
		if (p > run)
			add(c, run, (size_t)(p - run));
		if (p == end || *p < 0x20)
			return -1;
		if (*p == '"')
			break;
		if (*p != '\\') /* a byte that is not UTF-8 */
			return -1;
		if (end - p < 2)
			return -1;
		int32_t value;
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
			value = p[1];
			break;
		case 'b':
			value = '\b';
			break;
		case 'f':
			value = '\f';
			break;
		case 'n':
			value = '\n';
			break;
		case 'r':
			value = '\r';
			break;
		case 't':
			value = '\t';
			break;
		case 'u': {
			size_t length;
			value = (int32_t)portico_json_code_point(p, end, &length);
			if (!value)
				return -1;
			p += length - 2;
			break;
		}
		default:
			return -1;
		}
		add_code_point(c, (uint32_t)value);
		p += 2;
	}
	add(c, "\"", 1);
	c->p = p + 1;
	return 0;
}

static int is_digit(const unsigned char *p, const unsigned char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* Copies a real written without an exponent whose digits (less trailing zeros) are at most
 * DBL_DIG = 15 and whose exponent is within -4..14: every such decimal reads as a double that
 * "%.15g" prints back as the same digits, so portico_json_append_real's text is the number's own,
 * less its leading zeros and the fraction's trailing ones (".0" when none is left). Returns
 * nonzero when it did. */
static int copy_short_real(copier *c, const unsigned char *text, size_t length)
{
	const unsigned char *p = text, *end = text + length;
	int negative = *p == '-';
	p += negative;
	const unsigned char *integer = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	const unsigned char *integer_end = p, *fraction = p + 1, *fraction_end = fraction;
	while (fraction_end < end && *fraction_end >= '0' && *fraction_end <= '9')
		fraction_end++;
	if (p == end || *p != '.' || fraction_end != end)
		return 0; /* an exponent: strtod's way */
	while (fraction_end > fraction && fraction_end[-1] == '0')
		fraction_end--;
	while (integer < integer_end - 1 && *integer == '0')
		integer++; /* "0.5" keeps its 0; JSON has no other leading zeros */
	size_t significant;
	if (*integer != '0') {
		significant = (size_t)(integer_end - integer) + (size_t)(fraction_end - fraction);
	} else {
		const unsigned char *first = fraction;
		while (first < fraction_end && *first == '0')
			first++;
		if (first - fraction > 3)
			return 0; /* below 1e-4: "%g" writes an exponent */
		significant = (size_t)(fraction_end - first);
	}
	if (significant > 15)
		return 0;
	if (negative)
		add_char(c, '-');
	add(c, integer, (size_t)(integer_end - integer));
	add_char(c, '.');
	if (fraction_end > fraction)
		add(c, fraction, (size_t)(fraction_end - fraction));
	else
		add_char(c, '0');
	return 1;
}

/* Copies the number at c->p: an integer as jansson's json_int_t prints, a real as
 * portico_json_append_real writes the double strtod reads. */
static int copy_number(copier *c)
{
	const unsigned char *start = c->p, *p = start, *end = c->end;
	int negative = *p == '-', real = 0;
	p += negative;
	if (!is_digit(p, end))
		return -1;
	if (*p == '0' && is_digit(p + 1, end))
		return -1; /* a leading zero: jansson reads two numbers, which nothing takes */
	while (is_digit(p, end))
		p++;
	if (p < end && *p == '.') {
		if (!is_digit(++p, end))
			return -1;
		while (is_digit(p, end))
			p++;
		real = 1;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(p, end))
			return -1;
		while (is_digit(p, end))
			p++;
		real = 1;
	}
	size_t length = (size_t)(p - start);
	if (!real) {
		/* Up to 18 digits always fit in an int64_t; longer ones may not, and jansson refuses those. */
		if (length - (size_t)negative > 18)
			return -1;
		/* Without leading zeros (refused above) only "-0" reads as another integer's text. */
		if (negative && length == 2 && start[1] == '0')
			add_char(c, '0');
		else
			add(c, start, length);
	} else if (!copy_short_real(c, start, length)) {
		char text[REAL_MAX_LENGTH + 1];
		if (length > REAL_MAX_LENGTH)
			return -1;
		memcpy(text, start, length);
		text[length] = '\0';
		errno = 0;
		double value = strtod(text, NULL);
		if (errno == ERANGE)
			return -1;
		portico_json_append_real(c->out, value);
	}
	c->p = p;
	return 0;
}

/* word (length bytes) at c->p: inline, so that its length and compare are constants. */
static inline int copy_literal(copier *c, const char *word, size_t length)
{
	if ((size_t)(c->end - c->p) < length || memcmp(c->p, word, length))
		return -1;
	c->p += length;
	/* jansson reads "truex" as one word, which is none of its three. */
	if (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') || (*c->p >= 'A' && *c->p <= 'Z')))
		return -1;
	add(c, word, length);
	return 0;
}

static uint64_t key_hash(const char *text, size_t length)
{
	uint64_t hash = 14695981039346656037ull;
	for (size_t i = 0; i < length; i++)
		hash = (hash ^ (unsigned char)text[i]) * 1099511628211ull;
	return hash;
}

static int compare_hashes(const void *a, const void *b)
{
	uint64_t x = ((const key_span *)a)->hash, y = ((const key_span *)b)->hash;
	return x < y ? -1 : x > y;
}

static int same_key(const copier *c, const key_span *a, const key_span *b)
{
	return a->length == b->length && !memcmp(c->out->data + a->at, c->out->data + b->at, a->length);
}

/* Whether two of the keys from first on are the same: jansson keeps one of them, where the first
 * stood, with the last one's value, which a pass cannot write. Keys are compared as written, and
 * the writing is one to one. */
static int keys_repeat(copier *c, size_t first)
{
	key_span *keys = c->keys + first;
	size_t count = c->key_count - first;
	if (count <= PAIRWISE_KEYS) {
		for (size_t i = 0; i < count; i++)
			for (size_t j = i + 1; j < count; j++)
				if (same_key(c, &keys[i], &keys[j]))
					return 1;
		return 0;
	}
	for (size_t i = 0; i < count; i++)
		keys[i].hash = key_hash(c->out->data + keys[i].at, keys[i].length);
	qsort(keys, count, sizeof *keys, compare_hashes);
	for (size_t i = 0; i < count; i++)
		for (size_t j = i + 1; j < count && keys[j].hash == keys[i].hash; j++)
			if (same_key(c, &keys[i], &keys[j]))
				return 1;
	return 0;
}

/* strcmp's order of two keys as copied (with their quotes), for keys without escapes: the text
 * between the quotes is then the key's UTF-8 bytes. */
static int compare_keys(const key_span *a, const key_span *b)
{
	size_t la = a->length - 2, lb = b->length - 2;
	int order = memcmp(a->text + 1, b->text + 1, la < lb ? la : lb);
	return order ? order : (la > lb) - (la < lb);
}

static int compare_spans(const void *a, const void *b)
{
	return compare_keys(a, b);
}

/* Whether one of the keys from first on is one of absent (NULL-ended). */
static int holds_key(const copier *c, size_t first, const char *const *absent)
{
	for (; *absent; absent++) {
		size_t length = strlen(*absent);
		for (size_t i = first; i < c->key_count; i++)
			if (c->keys[i].length == length + 2 &&
			    !memcmp(c->out->data + c->keys[i].at + 1, *absent, length))
				return 1;
	}
	return 0;
}

/* Puts the members of the object whose keys start at first (the object written up to its closing
 * brace, not included) in strcmp order of their keys. Returns -1 when two keys are the same (see
 * keys_repeat), when a key holds an escape (its written text is then not its bytes), or when
 * moving the text would cost more than the tree. */
static int sort_members(copier *c, size_t first)
{
	key_span *keys = c->keys + first;
	size_t count = c->key_count - first;
	portico_json_buffer *out = c->out;
	int sorted = 1;
	for (size_t i = 0; i < count; i++) {
		keys[i].text = out->data + keys[i].at;
		if (memchr(keys[i].text + 1, '\\', keys[i].length - 2))
			return -1;
		if (i && compare_keys(&keys[i - 1], &keys[i]) >= 0)
			sorted = 0;
	}
	if (sorted)
		return 0;
	size_t start = keys[0].at, length = out->length - start;
	if (length > c->moves_left)
		return -1;
	c->moves_left -= length;
	if (count <= PAIRWISE_KEYS) {
		for (size_t i = 1; i < count; i++)
			for (size_t j = i; j > 0 && compare_keys(&keys[j - 1], &keys[j]) > 0; j--) {
				key_span swap = keys[j];
				keys[j] = keys[j - 1];
				keys[j - 1] = swap;
			}
	} else {
		qsort(keys, count, sizeof *keys, compare_spans);
	}
	for (size_t i = 1; i < count; i++)
		if (!compare_keys(&keys[i - 1], &keys[i]))
			return -1;
	c->moved.length = 0;
	portico_json_buffer_append(&c->moved, out->data + start, length);
	out->length = start;
	for (size_t i = 0; i < count; i++) {
		if (i)
			add_char(c, ',');
		add(c, c->moved.data + (keys[i].at - start), keys[i].end - keys[i].at);
	}
	return 0;
}

static int copy_value(copier *c, unsigned depth);

static int copy_object(copier *c, unsigned depth)
{
	size_t first = c->key_count;
	c->p++;
	add_char(c, '{');
	skip_space(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		add_char(c, '}');
		return 0;
	}
	for (;;) {
		if (c->p == c->end || *c->p != '"')
			return -1;
		if (c->key_count == c->key_capacity) {
			c->key_capacity = c->key_capacity ? 2 * c->key_capacity : 16;
			c->keys = portico_realloc(c->keys, c->key_capacity * sizeof *c->keys);
		}
		key_span *key = &c->keys[c->key_count++];
		key->at = c->out->length;
		if (copy_string(c))
			return -1;
		key->length = c->out->length - key->at;
		skip_space(c);
		if (c->p == c->end || *c->p != ':')
			return -1;
		c->p++;
		add_char(c, ':');
		skip_space(c);
		if (copy_value(c, depth))
			return -1;
		c->keys[c->key_count - 1].end = c->out->length;
		skip_space(c);
		if (c->p < c->end && *c->p == '}')
			break;
		if (c->p == c->end || *c->p != ',')
			return -1;
		c->p++;
		add_char(c, ',');
		skip_space(c);
	}
	c->p++;
	if (depth == 1 && c->absent_keys && holds_key(c, first, c->absent_keys))
		return -1;
	if (c->sort ? sort_members(c, first) : keys_repeat(c, first))
		return -1;
	add_char(c, '}');
	c->key_count = first;
	return 0;
}

static int copy_array(copier *c, unsigned depth)
{
	c->p++;
	add_char(c, '[');
	skip_space(c);
	if (c->p < c->end && *c->p == ']') {
		c->p++;
		add_char(c, ']');
		return 0;
	}
	for (;;) {
		if (copy_value(c, depth))
			return -1;
		skip_space(c);
		if (c->p < c->end && *c->p == ']')
			break;
		if (c->p == c->end || *c->p != ',')
			return -1;
		c->p++;
		add_char(c, ',');
		skip_space(c);
	}
	c->p++;
	add_char(c, ']');
	return 0;
}

static int copy_value(copier *c, unsigned depth)
{
	if (c->p == c->end)
		return -1;
	switch (*c->p) {
	case '{':
		return depth < PORTICO_JSON_COPY_MAX_DEPTH ? copy_object(c, depth + 1) : -1;
	case '[':
		return depth < PORTICO_JSON_COPY_MAX_DEPTH ? copy_array(c, depth + 1) : -1;
	case '"':
		return copy_string(c);
	case 't':
		return copy_literal(c, "true", 4);
	case 'f':
		return copy_literal(c, "false", 5);
	case 'n':
		return copy_literal(c, "null", 4);
	default:
		return copy_number(c);
	}
}

/* Copies the value at text (blanks around it skipped) and returns the bytes read, or 0 with
 * buffer as it was. */
static size_t copy_value_at(portico_json_buffer *buffer, const char *text, size_t length, int flags,
                            const char *const *absent_keys, size_t *moves_left)
{
	if (!length) /* nothing is not JSON (and its text may be NULL) */
		return 0;
	size_t start = buffer->length;
	copier c = {.p = (const unsigned char *)text,
	            .end = (const unsigned char *)text + length,
	            .out = buffer,
	            .sort = (flags & PORTICO_JSON_SORT_KEYS) != 0,
	            .absent_keys = absent_keys,
	            .moves_left = *moves_left};
	/* Room for the whole text at once: what comes out is about as long as what goes in. */
	portico_json_buffer_reserve(buffer, length);
	skip_space(&c);
	int result = copy_value(&c, 0);
	skip_space(&c);
	free(c.keys);
	free(c.moved.data);
	*moves_left = c.moves_left; /* spent whether or not the value was copied */
	if (result == 0) {
		buffer->data[buffer->length] = '\0';
		return (size_t)(c.p - (const unsigned char *)text);
	}
	buffer->length = start;
	if (buffer->data)
		buffer->data[start] = '\0';
	return 0;
}

int portico_json_copy(portico_json_buffer *buffer, const char *text, size_t length)
{
	size_t unsorted = 0; /* no sorting, nothing moved */
	size_t start = buffer->length, used = copy_value_at(buffer, text, length, 0, NULL, &unsorted);
	if (used == length && used)
		return 0;
	if (used) {
		buffer->length = start;
		buffer->data[start] = '\0';
	}
	return -1;
}

size_t portico_json_copy_value(portico_json_buffer *buffer, const char *text, size_t length, int flags,
                               const char *const *absent_keys, size_t *moves_left)
{
	size_t own = PORTICO_JSON_COPY_MOVES_PER_BYTE * length;
	return copy_value_at(buffer, text, length, flags, absent_keys, moves_left ? moves_left : &own);
}
